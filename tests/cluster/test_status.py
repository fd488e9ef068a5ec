# -*- test-case-name: tests.cluster.test_status -*-
"""
C{mailsuite-admin cluster status}: each process's heartbeat in Redis
(L{Heartbeat}, on a L{task.Clock} against a recording client), and the
command against a real redis-server shared by two suites run as workers 1
and 2 of one node (the processes with their workers and ports, the queue
of each worker, PostgreSQL not configured, Redis down: exit code 1).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from io import StringIO
from typing import Any

import yaml
from twisted.internet import defer, reactor, task
from twisted.internet.defer import fail, succeed
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.fakes import makeConfig
from tests.integration.test_chat_loopback import USERS
from twisted_mail_suite import admin
from twisted_mail_suite.cluster import RedisUnavailable
from twisted_mail_suite.cluster.members import MEMBER_PREFIX, Heartbeat
from twisted_mail_suite.cluster.status import postgresStatus
from twisted_mail_suite.config import configToDict
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.service import MailSuiteService
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously

from .support import eventually, startRedis


class RecordingClient:
    """
    A Redis command connection that records commands and answers OK, or
    fails while C{down}.
    """

    def __init__(self) -> None:
        self.commands: list[tuple] = []
        self.down = False
        self.connected = True

    def execute(self, *args: Any) -> Any:
        self.commands.append(args)
        return fail(RedisUnavailable("down")) if self.down else succeed(b"OK")


class HeartbeatTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.client = RecordingClient()
        self.heartbeat = Heartbeat(self.client, "mx-1/42/abc", "mx-1", 2, lambda: {"pop3": [1110]}, self.clock,
                                   interval=5.0, ttl=15.0)

    def test_beatsWhileRunning(self) -> None:
        """
        The key is written at start and every C{interval} seconds, with a
        lifetime of C{ttl}, holding the node, PID, worker, start time and
        ports; stopping deletes it.
        """
        self.heartbeat.startService()
        self.clock.advance(5)
        self.clock.advance(5)
        self.assertEqual(self.heartbeat.beats, 3)
        command, key, value, px, ttl = self.client.commands[-1]
        self.assertEqual((command, key, px, ttl), ("SET", MEMBER_PREFIX + "mx-1/42/abc", "PX", 15000))
        member = json.loads(value)
        self.assertEqual((member["node"], member["pid"], member["worker"], member["ports"]),
                         ("mx-1", os.getpid(), 2, {"pop3": [1110]}))
        self.assertEqual(member["name"], "mx-1/42/abc")
        self.assertLessEqual(member["started"], member["beat"])
        self.heartbeat.stopService()
        self.assertEqual(self.client.commands[-1], ("DEL", MEMBER_PREFIX + "mx-1/42/abc"))
        self.clock.advance(10)
        self.assertEqual(self.heartbeat.beats, 3)

    def test_redisDown(self) -> None:
        """
        A write that fails is neither raised nor counted, and the beats go
        on; once Redis answers again the key is written.
        """
        self.client.down = True
        self.heartbeat.startService()
        self.clock.advance(5)
        self.assertEqual((self.heartbeat.beats, len(self.client.commands)), (0, 2))
        self.client.down = False
        self.clock.advance(5)
        self.assertEqual(self.heartbeat.beats, 1)
        self.heartbeat.stopService()


class PostgresStatusTests(SynchronousTestCase):
    def test_notConfigured(self) -> None:
        """
        Without C{cluster.postgres}, PostgreSQL is "not configured".
        """
        self.assertEqual(postgresStatus(None), {"configured": False, "reason": "cluster.postgres is not set"})


class ClusterStatusTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.redis = startRedis(self)
        dataDir = tempfile.mkdtemp(prefix="st")     # short: the control sockets' paths fit a UNIX address
        self.addCleanup(shutil.rmtree, dataDir, True)
        self.suites = []
        for worker in (1, 2):
            config = makeConfig(dataDir, **{
                "cluster.redis": self.redis.url, "cluster.node": "mx-1",
                "pop3.listen": ["tcp:0:interface=127.0.0.1"], "smtp.listen": ["tcp:0:interface=127.0.0.1"],
                "chat.listen": [], "submission.listen": [], "imap.listen": []})
            os.makedirs(config.mailDir, exist_ok=True)
            suite = MailSuiteService(config, reactor, users=InMemoryUsers(USERS),
                                     store=MaildirStore(config.mailDir, runBlocking=runSynchronously),
                                     runInThread=runSynchronously, worker=worker)
            suite.startService()
            self.addCleanup(lambda suite=suite: suite.stopService() if suite.running else None)
            yield suite.whenListening()
            yield suite.shared.whenReady()
            self.suites.append(suite)
        for suite in self.suites:
            yield eventually(lambda suite=suite: suite.heartbeat.beats >= 2)
        self.configPath = os.path.join(dataDir, "tap.yaml")
        with open(self.configPath, "w") as f:
            yaml.safe_dump(configToDict(self.suites[0].config), f)

    @defer.inlineCallbacks
    def status(self, *argv: str) -> Any:
        """
        Run C{mailsuite-admin cluster status} in a thread (it asks this
        reactor's suites through their control sockets).
        """
        out = StringIO()
        code = yield deferToThread(admin.main, ["--config", self.configPath, "cluster", "status", *argv],
                                   stdout=out)
        return code, out.getvalue()

    @defer.inlineCallbacks
    def test_listsBothWorkers(self) -> Any:
        """
        Both processes are listed under their node with their worker
        number, PID and ports; Redis is up with its version; PostgreSQL is
        not configured; each worker's queue is read through its server.
        """
        code, out = yield self.status("--json")
        self.assertEqual(code, 0)
        report = json.loads(out)
        self.assertTrue(report["redis"]["ok"])
        self.assertRegex(report["redis"]["version"], r"^\d+\.\d+")
        self.assertGreaterEqual(report["redis"]["ping_ms"], 0)
        members = report["redis"]["members"]
        self.assertEqual([(m["node"], m["worker"], m["pid"]) for m in members],
                         [("mx-1", 1, os.getpid()), ("mx-1", 2, os.getpid())])
        self.assertEqual([m["name"] for m in members], [s.shared.origin for s in self.suites])
        self.assertEqual([m["ports"]["pop3"] for m in members], [s.portsFor("pop3") for s in self.suites])
        self.assertEqual(report["postgres"], {"configured": False, "reason": "cluster.postgres is not set"})
        queues = {q["queue"]: q for q in report["queues"]}
        self.assertEqual(sorted(queues), ["worker 1", "worker 2"])
        self.assertEqual([(q["server_answered"], q["messages"]) for q in queues.values()], [(True, 0)] * 2, queues)

        code, text = yield self.status()
        self.assertEqual(code, 0)
        self.assertIn("Redis: up, version", text)
        self.assertIn("PostgreSQL: not configured", text)
        self.assertIn("nodes: 1, processes: 2", text)
        for suite, worker in zip(self.suites, (1, 2)):
            self.assertIn(f"worker {worker}  pid {os.getpid()}", text)
            self.assertIn(f"pop3 {suite.portsFor('pop3')[0]}", text)
            self.assertIn(f"[{suite.shared.origin}]", text)
        self.assertIn("worker 2: 0 messages, 0 held", text)

    @defer.inlineCallbacks
    def test_queueCommandEveryWorker(self) -> Any:
        """
        C{mailsuite-admin queue flush} reaches both running workers'
        servers (through their control sockets); with one stopped, the
        other still answers.
        """
        out = StringIO()
        code = yield deferToThread(admin.main, ["--config", self.configPath, "queue", "flush", "--json"], stdout=out)
        self.assertEqual((code, json.loads(out.getvalue())), (0, {"flushed": []}))
        yield self.suites[0].stopService()
        out = StringIO()
        code = yield deferToThread(admin.main, ["--config", self.configPath, "queue", "flush", "--json"], stdout=out)
        self.assertEqual((code, json.loads(out.getvalue())), (0, {"flushed": []}))

    @defer.inlineCallbacks
    def test_stoppedProcessLeaves(self) -> Any:
        """
        A process that stops deletes its heartbeat: the other one remains.
        """
        yield self.suites[1].stopService()
        code, out = yield self.status("--json")
        self.assertEqual(code, 0)
        self.assertEqual([m["worker"] for m in json.loads(out)["redis"]["members"]], [1])

    @defer.inlineCallbacks
    def test_redisDown(self) -> Any:
        """
        With Redis stopped the status says so and exits with 1.
        """
        self.redis.stop()
        code, text = yield self.status()
        self.assertEqual(code, 1)
        self.assertIn("Redis: DOWN", text)
        self.assertNotIn("nodes:", text)
        code, out = yield self.status("--json")
        self.assertEqual(code, 1)
        self.assertFalse(json.loads(out)["redis"]["ok"])
