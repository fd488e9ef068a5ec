# -*- test-case-name: tests.http.test_faultsapi -*-
"""
The harness's fault switches over HTTP, so that a browser test
(Playwright, Cypress, selenium) or a test in another language can inject
failures: the harness mounts L{faultSwitches} at C{/api/v1/test/faults}
of its HTTP listener (only in the harness; no login: it listens on
loopback for tests)::

    GET    /api/v1/test/faults      the faults in force
    POST   /api/v1/test/faults      {"fail_deliveries": {"count": 1, "code": 451},
                                     "delay_deliveries": 2.5,
                                     "reject_recipients": {"pattern": "*@bounce.test", "code": 550},
                                     "drop_connections": {"after": 0}}   (any of the keys)
    DELETE /api/v1/test/faults      undo them all (L{MailSuiteHarness.reset})

The drop fault cuts the mail and chat protocols, never the HTTP listener
the switches are reached through.
"""
from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource

from ..http.endpoint import Endpoint, jsonArgument
from ..http.replies import HTTPError

__all__ = ["faultSwitches"]


def _number(value: Any, key: str, low: float = 0) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise HTTPError(400, "bad-request", f"{key} must be a number >= {low:g}.")
    return value


def _code(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 400 <= value <= 599:
        raise HTTPError(400, "bad-request", f"{key} must be a reply code from 400 to 599.")
    return value


def faultSwitches(harness: Any) -> Resource:
    """
    The resource switching C{harness}'s faults (a L{MailSuiteHarness}).
    """
    faults = harness._faults

    def state(request: Any = None, user: Any = None) -> dict[str, Any]:
        return {"fail_deliveries": {"count": faults.failCount, "code": faults.failCode},
                "delay_deliveries": faults.delay, "reject_recipients": len(faults.rejections),
                "drop_connections": None if faults.dropAfter is None else {"after": faults.dropAfter}}

    def switch(request: Any, user: Any) -> dict[str, Any]:
        body = jsonArgument(request)
        unknown = set(body) - {"fail_deliveries", "delay_deliveries", "reject_recipients", "drop_connections"}
        if unknown:
            raise HTTPError(400, "bad-request", f"Unknown faults: {', '.join(sorted(unknown))}.")
        fail, reject, drop = (body.get(key) for key in ("fail_deliveries", "reject_recipients", "drop_connections"))
        for key, value in (("fail_deliveries", fail), ("reject_recipients", reject), ("drop_connections", drop)):
            if value is not None and not isinstance(value, dict):
                raise HTTPError(400, "bad-request", f"{key} must be an object.")
        if reject is not None and not isinstance(reject.get("pattern"), str):
            raise HTTPError(400, "bad-request", "reject_recipients.pattern must be a glob like *@bounce.test.")
        # Check everything before changing anything.
        failArgs = fail and (int(_number(fail.get("count", 1), "fail_deliveries.count")),
                             _code(fail.get("code", 451), "fail_deliveries.code"))
        delay = body.get("delay_deliveries")
        delay = None if delay is None else _number(delay, "delay_deliveries")
        rejectArgs = reject and (reject["pattern"], _code(reject.get("code", 550), "reject_recipients.code"))
        dropAfter = drop and int(_number(drop.get("after", 0), "drop_connections.after"))
        if failArgs:
            harness.failDeliveries(*failArgs)
        if delay is not None:
            harness.delayDeliveries(delay)
        if rejectArgs:
            harness.rejectRecipients(*rejectArgs)
        if drop is not None:
            harness.dropConnections(dropAfter or 0)
        return state()

    def reset(request: Any, user: Any) -> dict[str, Any]:
        harness.reset()
        return state()

    return Endpoint({b"GET": state, b"POST": switch, b"DELETE": reset}, access="none")
