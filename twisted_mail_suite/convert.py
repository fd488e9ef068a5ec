# -*- test-case-name: tests.test_config -*-
"""
The converters every configuration section shares: one per kind of value,
C{(value, keyPath, source) -> value}, raising a L{ConfigError} that names
the file and the key.  Used by L{twisted_mail_suite.config} and
L{twisted_mail_suite.relayconfig}.
"""
from __future__ import annotations

from dataclasses import field
from typing import Any, Callable

from .errors import ConfigError

__all__ = ["boolean", "choice", "fail", "option"]


def fail(source: str, key: str, expected: str, value: object) -> ConfigError:
    """
    The error for C{value} at C{key} in C{source}, which should have been C{expected}.
    """
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return ConfigError(source, key, f"expected {expected}, got {shown}")


def boolean(value: object, key: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise fail(source, key, "true or false", value)
    return value


def choice(*choices: str) -> Callable[[object, str, str], str]:
    """
    A converter accepting only C{choices}.
    """
    def convert(value: object, key: str, source: str) -> str:
        if value not in choices:
            raise fail(source, key, " or ".join(choices), value)
        return value  # type: ignore[return-value]
    return convert


def option(convert: Callable[..., Any], default: Any) -> Any:
    """
    A dataclass field with its C{default} and the converter of its values.
    """
    return field(default=default, metadata={"convert": convert})
