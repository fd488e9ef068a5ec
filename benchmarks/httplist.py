"""
The HTTP API lists a big mailbox by pages: fill alice's Maildir with N
messages (copies of one delivered message under fresh unique names, so the
store sees N distinct messages), then time GET /api/v1/messages pages over
a real loopback connection, cold (the headers are read) and warm (the
summaries are cached), first page and last page.

    python benchmarks/httplist.py [--messages 10000] [--rounds 20]

Prints the median and worst wall time per request, and the CPU the whole
process (server and client) spent per request (utime+stime from /proc).
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import smtplib
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted_mail_suite.testing.threaded import ThreadedHarness  # noqa: E402


def cpu() -> float:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(harness: ThreadedHarness, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", harness.smtpPort) as smtp:
        smtp.sendmail("bob@example.test", ["alice@example.test"],
                      b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: seed\r\n"
                      b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n" + b"Some text.\r\n" * 40)
    folder = os.path.join(harness.harness.config.mailDir, "alice", "new")
    (seed,) = os.listdir(folder)
    stamp, rest = seed.split(".", 1)
    for number in range(1, count):
        shutil.copyfile(os.path.join(folder, seed), os.path.join(folder, f"{int(stamp) - number}.{rest}"
                                                                 .replace("Q1.", f"Q{number + 1}.")))


def timeRequests(port: int, path: str, auth: str, rounds: int) -> tuple[list[float], float]:
    times = []
    before = cpu()
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(rounds):
        start = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": auth})
        response = connection.getresponse()
        body = response.read()
        times.append(time.perf_counter() - start)
        assert response.status == 200, body
    connection.close()
    return times, (cpu() - before) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with ThreadedHarness(users={"alice": "secret"}) as harness:
        fill(harness, args.messages)
        port = harness.ports()["http"]
        # a cookie session: one password check, not one per request
        login = http.client.HTTPConnection("127.0.0.1", port)
        login.request("GET", "/login")
        form = login.getresponse()
        token = form.getheader("Set-Cookie").split("=", 1)[1].split(";", 1)[0]
        form.read()
        login.request("POST", "/login", body=f"username=alice&password=secret&csrf_token={token}",
                      headers={"Cookie": f"mailsuite_login={token}", "Accept": "application/json",
                               "Content-Type": "application/x-www-form-urlencoded"})
        answer = login.getresponse()
        cookie = [c for c in answer.headers.get_all("Set-Cookie") if c.startswith("mailsuite_session=")][0]
        auth = cookie.split(";", 1)[0]
        answer.read()
        last = f"/api/v1/messages?limit=50&offset={args.messages - 50}"
        for label, path, rounds in (("first page, cold", "/api/v1/messages?limit=50", 1),
                                    ("first page, warm", "/api/v1/messages?limit=50", args.rounds),
                                    ("last page, cold", last, 1),
                                    ("last page, warm", last, args.rounds)):
            times, cpuPer = timeRequests(port, path, auth, rounds)
            print(f"{args.messages} messages, {label:17}: median {statistics.median(times) * 1000:7.1f} ms, "
                  f"worst {max(times) * 1000:7.1f} ms, CPU {cpuPer * 1000:7.1f} ms/request ({rounds} requests)")


if __name__ == "__main__":
    main()
