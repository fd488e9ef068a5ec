# -*- test-case-name: tests.test_pytest_plugin -*-
"""
Start-up figures of the threaded harness (not run by the suite):

    python tests/pytest_cases/startup_timing.py [ROUNDS]

prints the first start in a process (thread, reactor, imports), then the
median over ROUNDS of: start+stop of a fresh harness (the function-scoped
fixture), clear of a shared one (a session-scoped fixture between tests),
and one smtplib message sent and awaited.
"""
from __future__ import annotations

import smtplib
import statistics
import sys
import time


def median(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def main(rounds: int) -> None:
    began = time.perf_counter()
    from twisted_mail_suite.testing import ThreadedHarness

    imported = time.perf_counter()
    first = ThreadedHarness().start()
    started = time.perf_counter()
    first.stop()
    print(f"import {(imported - began) * 1000:.0f} ms; first start {(started - imported) * 1000:.0f} ms")
    for tls in (False, True):
        fresh = []
        for _ in range(rounds):
            t = time.perf_counter()
            ThreadedHarness(tls=tls).start().stop()
            fresh.append(time.perf_counter() - t)
        print(f"tls={tls}: start+stop {median(fresh)}")
    with ThreadedHarness() as shared:
        clears, messages = [], []
        for n in range(rounds):
            t = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", shared.smtpPort, timeout=10) as client:
                client.sendmail("a@example.test", [shared.address("bob")], f"Subject: {n}\r\n\r\nhi\r\n".encode())
            shared.waitForMessage(to="bob", subject=str(n), timeout=5)
            messages.append(time.perf_counter() - t)
            t = time.perf_counter()
            shared.clear()
            clears.append(time.perf_counter() - t)
    print(f"clear (shared, after one message) {median(clears)}; one message sent and awaited {median(messages)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
