# -*- test-case-name: tests.relay.test_control -*-
"""
Tests for L{twisted_mail_suite.relay.control} and C{mailsuite-admin
queue}: requests over the UNIX socket, and the CLI reading the files when
no server answers.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time

from twisted.internet import reactor, threads
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import UNIXServerEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_mail_suite import admin
from twisted_mail_suite.relay.control import ControlError, ControlFactory, request
from twisted_mail_suite.relay.entry import SENT, Outcome
from twisted_mail_suite.relay.queue import DiskQueue
from twisted_mail_suite.store.maildir import runSynchronously


class SocketTests(TestCase):
    timeout = 20

    @inlineCallbacks
    def test_requestAnswered(self):  # type: ignore[no-untyped-def]
        """
        One JSON request per line gets one JSON answer; a refusal becomes L{ControlError} in the CLI.
        """
        calls = []

        def operate(command: str, queueID: object) -> object:
            calls.append((command, queueID))
            if queueID == "missing":
                raise ControlError("no message missing in the queue")
            return {"hold": queueID}

        folder = tempfile.mkdtemp(prefix="ms-")      # short: a UNIX socket path has ~100 octets
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "control.sock")
        port = yield UNIXServerEndpoint(reactor, path, mode=0o600).listen(ControlFactory(operate))
        self.addCleanup(port.stopListening)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        result = yield threads.deferToThread(request, path, "hold", "Q1")
        self.assertEqual(result, {"hold": "Q1"})
        error = yield self.assertFailure(threads.deferToThread(request, path, "hold", "missing"), ControlError)
        self.assertIn("no message missing", str(error))
        error = yield self.assertFailure(threads.deferToThread(request, path, "explode"), ControlError)
        self.assertIn("unknown command", str(error))
        self.assertEqual(calls, [("hold", "Q1"), ("hold", "missing")])


class QueueCLITestCase(SynchronousTestCase):
    """
    A data_dir with a tap.yaml naming it, L{queueAt} and L{cli}.
    """

    def setUp(self) -> None:
        self.dataDir = os.path.abspath(self.mktemp())
        os.makedirs(self.dataDir)
        self.configPath = os.path.join(self.dataDir, "tap.yaml")
        with open(self.configPath, "w") as f:
            f.write(f"data_dir: {self.dataDir}\n")

    def queueAt(self, *path: str) -> DiskQueue:
        class WallClock:
            seconds = staticmethod(time.time)

        queue = DiskQueue(os.path.join(self.dataDir, *path), WallClock(), runSynchronously)
        queue.load()
        return queue

    def cli(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return admin.main(["--config", self.configPath, "queue", *argv], stdout=out), out.getvalue()


class OfflineTests(QueueCLITestCase):
    """
    C{mailsuite-admin queue ...} with no server running.
    """

    def setUp(self) -> None:
        super().setUp()
        queue = self.queueAt("queue")
        pending = queue.begin("alice@example.test", ["x@remote.test", "y@remote.test"])
        pending.write(b"Subject: queued\r\nFrom: alice@example.test\r\n\r\nbody\r\n")
        self.queueID = self.successResultOf(pending.commit())
        queue.record(queue.get(self.queueID), [Outcome("x@remote.test", SENT, "250 ok", "mx")],
                     (1, time.time() + 60, "451 4.4.1 later"))

    def test_list(self) -> None:
        """
        List names the id, sender, recipients with their state, attempts, next attempt and last error.
        """
        status, out = self.cli("list")
        self.assertEqual(status, 0)
        for text in (self.queueID, "<alice@example.test>", "<x@remote.test>  sent", "<y@remote.test>  pending",
                     "attempts: 1", "next attempt: ", "last error: 451 4.4.1 later", "-- 1 message in the queue"):
            self.assertIn(text, out)

    def test_showAndJSON(self) -> None:
        """
        Show prints the headers; --json gives the same as data.
        """
        status, out = self.cli("show", self.queueID)
        self.assertIn("Subject: queued", out)
        status, out = self.cli("show", self.queueID, "--json")
        self.assertEqual(json.loads(out)["recipients"][1]["address"], "y@remote.test")

    def test_holdAndDelete(self) -> None:
        """
        Hold, release and delete change the files when no server runs; flush needs one.
        """
        self.assertEqual(self.cli("hold", self.queueID)[0], 0)
        self.assertIn("(held)", self.cli("list")[1])
        self.assertEqual(self.cli("release", self.queueID)[0], 0)
        self.assertNotIn("(held)", self.cli("list")[1])
        self.assertEqual(self.cli("flush")[0], 1)
        self.assertEqual(self.cli("delete", self.queueID)[0], 0)
        self.assertIn("-- 0 messages", self.cli("list")[1])
        self.assertEqual(self.cli("show", self.queueID)[0], 1)


class WorkerQueuesTests(QueueCLITestCase):
    """
    C{mailsuite-admin queue ...} on a node run with C{workers: 2}: each
    worker keeps its own queue in C{data_dir/worker-N/queue}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.ids = {}
        for worker in (1, 2):
            queue = self.queueAt(f"worker-{worker}", "queue")
            pending = queue.begin(f"w{worker}@example.test", ["x@remote.test"])
            pending.write(b"Subject: from worker %d\r\n\r\nbody\r\n" % worker)
            self.ids[worker] = self.successResultOf(pending.commit())

    def test_listEvery(self) -> None:
        """
        List shows the messages of every worker's queue, each with its queue.
        """
        status, out = self.cli("list")
        self.assertEqual(status, 0)
        self.assertIn("-- 2 messages in the queue", out)
        self.assertIn("<w1@example.test>  [worker 1]", out)
        self.assertIn("<w2@example.test>  [worker 2]", out)
        status, out = self.cli("list", "--json")
        self.assertEqual(sorted((e["id"], e["queue"]) for e in json.loads(out)),
                         sorted([(self.ids[1], "worker 1"), (self.ids[2], "worker 2")]))

    def test_commandFindsItsQueue(self) -> None:
        """
        A command naming a message reaches the worker queue that holds it;
        an unknown one is refused once.
        """
        status, out = self.cli("show", self.ids[2])
        self.assertEqual(status, 0)
        self.assertIn("Subject: from worker 2", out)
        self.assertEqual(self.cli("hold", self.ids[2])[0], 0)
        self.assertEqual([e["held"] for e in json.loads(self.cli("list", "--json")[1]) if e["id"] == self.ids[2]],
                         [True])
        self.assertEqual(self.cli("delete", self.ids[1])[0], 0)
        self.assertEqual([e["queue"] for e in json.loads(self.cli("list", "--json")[1])], ["worker 2"])
        self.assertEqual(self.cli("show", "nosuchid")[0], 1)
        self.assertEqual(self.cli("flush")[0], 1)      # no server runs


class DKIMCommandTests(SynchronousTestCase):
    def test_generate(self) -> None:
        """
        C{dkim generate} writes the key 0600 under data_dir and prints the TXT record and the config lines.
        """
        dataDir = os.path.abspath(self.mktemp())
        os.makedirs(dataDir)
        config = os.path.join(dataDir, "tap.yaml")
        with open(config, "w") as f:
            f.write(f"data_dir: {dataDir}\n")
        out = io.StringIO()
        status = admin.main(["--config", config, "dkim", "generate", "Example.TEST", "--selector", "s1"], stdout=out)
        self.assertEqual(status, 0)
        key = os.path.join(dataDir, "dkim", "example.test.s1.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertIn('s1._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=', out.getvalue())
        self.assertIn("example.test: {selector: s1, key_file: " + key + "}", out.getvalue())
        self.assertEqual(admin.main(["--config", config, "dkim", "generate", "example.test", "--selector", "s1"],
                                    stdout=io.StringIO()), 1)
