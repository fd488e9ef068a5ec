# -*- test-case-name: tests.test_registry -*-
"""
The protocols of the suite, one record each.  Everything that lists the
protocols is generated from L{PROTOCOLS}: the twistd plugin's options
(C{--smtp ENDPOINT} ...), the service assembly (one listener per endpoint),
the test harness's listeners and the configuration written for tests,
scripts and benchmarks.  Adding a protocol is one package plus one line
here (and its section in L{twisted_mail_suite.config}).

The records name their factory maker as C{"module:function"}, so this
module imports no protocol: the service imports the maker when the
protocol is configured to listen, and a maker that cannot be imported is a
start-up error, never a silent "not listening".
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ConfigError

__all__ = ["ProtocolRecord", "PROTOCOLS", "record", "loadMaker"]


@dataclass(frozen=True)
class ProtocolRecord:
    """
    One kind of listener.

    @ivar role: the listener's name, also its config section and its
        plugin option (C{--<role> ENDPOINT}).
    @ivar maker: C{"module:function"}; the function takes the suite's
        L{twisted_mail_suite.service.SuiteParts} and the role and returns
        the protocol factory (one per role, shared by its endpoints).
    @ivar summary: one line for C{--help}.
    """

    role: str
    maker: str
    summary: str


PROTOCOLS: tuple[ProtocolRecord, ...] = (
    ProtocolRecord("smtp", "twisted_mail_suite.smtp.factory:makeFactory", "MX SMTP (AUTH optional)"),
    ProtocolRecord("submission", "twisted_mail_suite.smtp.factory:makeFactory", "submission (AUTH required)"),
    ProtocolRecord("pop3", "twisted_mail_suite.pop3.protocol:makeFactory", "POP3"),
    ProtocolRecord("chat", "twisted_mail_suite.chat.protocol:makeFactory", "the chat room"),
)


def record(role: str) -> ProtocolRecord:
    """
    The record of C{role}.

    @raise KeyError: for an unknown role.
    """
    for candidate in PROTOCOLS:
        if candidate.role == role:
            return candidate
    raise KeyError(role)


def loadMaker(entry: ProtocolRecord) -> Callable[..., Any]:
    """
    Import the factory maker of C{entry}.

    @raise ConfigError: if its module or function is missing: the config
        asks for a listener this installation cannot serve.
    """
    module, _, name = entry.maker.partition(":")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as e:
        raise ConfigError("<registry>", f"{entry.role}.listen",
                          f"the {entry.role} protocol is not available in this installation ({e})") from e
