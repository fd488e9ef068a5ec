# -*- test-case-name: tests.relay.test_control -*-
"""
How C{mailsuite-admin queue ...} reaches the running server: a UNIX
socket, C{<data_dir>/queue/control.sock} (mode 0600 in a 0700 folder:
only the server's user), one JSON request per line, one JSON answer per
line.

Why a socket and not the CLI editing the queue files itself: the server
stays the only writer of the queue, so a hold or a delete cannot race a
delivery in flight (the attempt's outcome is not written back over the
operator's change), and a change takes effect at once (a flush starts
the attempt now, no polling).  When no server answers, the CLI reads the
files itself (C{list}, C{show}) or changes them directly (C{hold},
C{release}, C{delete}): nothing else is writing then.
"""
from __future__ import annotations

import json
import socket
from typing import Any, Callable

from twisted.internet.defer import maybeDeferred
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from ..errors import QueueControlError

__all__ = ["ControlProtocol", "ControlFactory", "request", "COMMANDS", "ControlError"]

COMMANDS = ("list", "show", "flush", "delete", "hold", "release")


ControlError = QueueControlError
"""
The server refused a request (no such message, bad command); the bottom
layer's L{QueueControlError}, so that whoever is handed the queue's
C{operate} (the HTTP API) knows it without importing the relay.
"""


class ControlProtocol(LineOnlyReceiver):
    """
    One CLI connection: requests answered in order.
    """

    delimiter = b"\n"
    MAX_LENGTH = 4096
    log = Logger()

    def lineReceived(self, line: bytes) -> None:
        try:
            request = json.loads(line)
            command, queueID = request["command"], request.get("id")
            if command not in COMMANDS:
                raise ControlError(f"unknown command {command!r}")
        except (ValueError, KeyError, TypeError, ControlError) as e:
            self._answer({"ok": False, "error": f"bad request: {e}"})
            return
        d = maybeDeferred(self.factory.operate, command, queueID)
        d.addCallbacks(lambda result: self._answer({"ok": True, "result": result}), self._failed)

    def _failed(self, failure: Failure) -> None:
        if not failure.check(ControlError):
            self.log.failure("Queue control request failed", failure)
        self._answer({"ok": False, "error": failure.getErrorMessage()})

    def _answer(self, answer: dict) -> None:
        if self.transport is not None and self.connected:
            self.transport.write(json.dumps(answer).encode("utf-8") + b"\n")


class ControlFactory(Factory):
    """
    @param operate: C{operate(command, queueID)} -> a JSON-able result, or
        a Deferred of one; raises L{ControlError} for a refusal.
    """

    protocol = ControlProtocol

    def __init__(self, operate: Callable[[str, Any], Any]) -> None:
        self.operate = operate


def request(path: str, command: str, queueID: str | None = None, timeout: float = 30.0) -> Any:
    """
    Blocking, for the CLI: send one request to the server listening at
    C{path}.

    @raise ConnectionError: no server listens there (C{OSError}s too).
    @raise ControlError: the server refused the request.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps({"command": command, "id": queueID}).encode("utf-8") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the control connection")
            data += chunk
    answer = json.loads(data)
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "refused"))
    return answer.get("result")
