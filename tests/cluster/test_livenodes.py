# -*- test-case-name: tests.cluster.test_livenodes -*-
"""
Which nodes are alive (L{LiveNodes}): the heartbeats read back from Redis,
on a L{task.Clock} against a scripted client, then through the
C{proxy.auth_http} endpoint of two suites on a real redis-server: a user
of a node whose suite stopped is sent to the other node.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.internet.defer import fail, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from tests.fakes import makeConfig
from twisted_mail_suite.cluster import RedisUnavailable
from twisted_mail_suite.cluster.members import LiveNodes
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.service import MailSuiteService
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously

from .support import eventually, startRedis


USERS = {f"user{n}": f"password{n}" for n in range(8)}


def member(node: str, worker: int = 0) -> bytes:
    return json.dumps({"name": f"{node}/1/ab", "node": node, "pid": 1, "worker": worker}).encode()


class ScriptedClient:
    """
    Answers SCAN with C{pages} (one per call, the last with cursor 0) and
    MGET with C{values}; fails every command while C{down}.
    """

    def __init__(self, pages: list[list[bytes]], values: list[bytes | None]) -> None:
        self.pages = pages
        self.values = values
        self.down = False
        self.commands: list[tuple] = []

    def execute(self, *args: Any) -> Any:
        self.commands.append(args)
        if self.down:
            return fail(RedisUnavailable("down"))
        if args[0] == "SCAN":
            page = int(args[1])
            last = page + 1 == len(self.pages)
            return succeed([b"0" if last else str(page + 1).encode(), self.pages[page]])
        assert args[0] == "MGET"
        return succeed(self.values)


class LiveNodesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.client = ScriptedClient([[b"mailsuite:member:a/1/ab"], [b"mailsuite:member:a/2/cd", b"x"]],
                                     [member("a", 1), member("a", 2), None])
        self.nodes = LiveNodes(self.client, self.clock, interval=2.0)

    def test_readsEveryPage(self) -> None:
        """
        Every page of the SCAN is read, then one MGET of all the keys; an
        expired key (None) is passed over.
        """
        self.nodes.startService()
        self.addCleanup(self.nodes.stopService)
        self.assertEqual([c[0] for c in self.client.commands], ["SCAN", "SCAN", "MGET"])
        self.assertEqual(len(self.client.commands[2]), 4)
        self.assertEqual(self.nodes.nodes, frozenset({"a"}))
        self.assertEqual(self.nodes.down(["a", "b"]), frozenset({"b"}))

    def test_readAgain(self) -> None:
        """
        The keys are read again every C{interval}: a node that comes back
        is no longer down.
        """
        self.nodes.startService()
        self.addCleanup(self.nodes.stopService)
        self.client.values = [member("a"), member("b"), None]
        self.assertEqual(self.nodes.down(["a", "b", "c"]), frozenset({"b", "c"}))
        self.clock.advance(2.0)
        self.assertEqual(self.nodes.down(["a", "b", "c"]), frozenset({"c"}))

    def test_unknown(self) -> None:
        """
        Before the first reading, and after one that failed (Redis
        unreachable), nothing is known to be down.
        """
        self.assertEqual(self.nodes.down(["a", "b"]), frozenset())
        self.nodes.startService()
        self.addCleanup(self.nodes.stopService)
        self.assertEqual(self.nodes.down(["a", "b"]), frozenset({"b"}))
        self.client.down = True
        self.clock.advance(2.0)
        self.assertIsNone(self.nodes.nodes)
        self.assertEqual(self.nodes.down(["a", "b"]), frozenset())

    def test_neverAllDown(self) -> None:
        """
        When every name given looks down (names matching no node), none
        is passed over.
        """
        self.nodes.startService()
        self.addCleanup(self.nodes.stopService)
        self.assertEqual(self.nodes.down(["x", "y"]), frozenset())
        self.assertEqual(self.nodes.down(["a"]), frozenset())


class AuthHTTPSkipsDownNodeTests(TestCase):
    """
    Two suites, nodes C{a} and C{b}, on one redis-server, each with the
    auth_http endpoint and the same two backends.
    """

    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.redis = startRedis(self)
        folder = tempfile.mkdtemp(prefix="ln")
        self.addCleanup(shutil.rmtree, folder, True)
        secretFile = os.path.join(folder, "secret")
        with open(secretFile, "w") as f:
            f.write("s3cret\n")
        backends = [{"name": "a", "host": "10.0.0.1", "imap": 143}, {"name": "b", "host": "10.0.0.2", "imap": 1143}]
        self.suites: dict[str, MailSuiteService] = {}
        for node in ("a", "b"):
            config = makeConfig(os.path.join(folder, node), **{
                "cluster.redis": self.redis.url, "cluster.node": node, "proxy.backends": backends,
                "proxy.auth_http.listen": ["tcp:0:interface=127.0.0.1"], "proxy.auth_http.secret_file": secretFile,
                "smtp.listen": [], "pop3.listen": [], "chat.listen": [], "submission.listen": [],
                "imap.listen": []})
            os.makedirs(config.mailDir, exist_ok=True)
            suite = MailSuiteService(config, reactor, users=InMemoryUsers(USERS),
                                     store=MaildirStore(config.mailDir, runBlocking=runSynchronously),
                                     runInThread=runSynchronously)
            suite.startService()
            self.addCleanup(lambda suite=suite: suite.stopService() if suite.running else None)
            yield suite.whenListening()
            yield suite.shared.whenReady()
            self.suites[node] = suite
        for suite in self.suites.values():
            nodes = suite.shared.liveNodes()
            yield eventually(lambda nodes=nodes: nodes.nodes == frozenset({"a", "b"}))

    @defer.inlineCallbacks
    def route(self, node: str, user: str) -> Any:
        url = f"http://127.0.0.1:{self.suites[node].portsFor('auth_http')[0]}/auth".encode()
        headers = {"X-Auth-Key": "s3cret", "Auth-Method": "plain", "Auth-User": user,
                   "Auth-Pass": USERS[user], "Auth-Protocol": "imap", "Client-IP": "192.0.2.7"}
        response = yield Agent(reactor).request(b"GET", url, Headers({k: [v] for k, v in headers.items()}))
        yield readBody(response)
        return response.headers.getRawHeaders("Auth-Server", [None])[0]

    @defer.inlineCallbacks
    def test_stoppedNodePassedOver(self) -> Any:
        """
        Both nodes route a user to the same node; once every process of
        that node has stopped, the other node's endpoint sends the user to
        itself.
        """
        routes = {}
        for user in USERS:
            first = yield self.route("a", user)
            again = yield self.route("b", user)
            self.assertEqual(first, again)
            routes[user] = first
        users = [user for user, host in routes.items() if host == "10.0.0.2"]
        self.assertTrue(users, f"no user of node b among {routes}")
        yield self.suites["b"].stopService()
        nodes = self.suites["a"].shared.liveNodes()
        yield eventually(lambda: nodes.nodes == frozenset({"a"}))
        for user in users:
            host = yield self.route("a", user)
            self.assertEqual(host, "10.0.0.1")
