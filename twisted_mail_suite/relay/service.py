# -*- test-case-name: tests.relay.test_service -*-
"""
The relay as a child service of the suite: the outbound queue (the
durable L{DiskQueue} under C{<data_dir>/queue}, DKIM-signing in front of
it when C{relay.dkim} names domains), the retry L{Scheduler}, the
connection L{Pool} with its L{Connector}, the bounces, and the operator's
control socket.  Started after the mail store and before the listeners;
stopped after the listeners (so nothing is queued any more): no new
attempt starts, connections in flight are cut (their recipients are
deferred, on disk), then the fsyncs finish.

With an C{outbound} given (a test harness's L{MemoryOutbox}), the relay
keeps only the queueing side: what would have left stays there.

L{sendMail} is the applications' road in: the same fan-out as an SMTP
submission (local recipients to their mailboxes, the others queued, in
one two-phase commit).
"""
from __future__ import annotations

import os
import random
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import formatdate, make_msgid
from typing import Any, Callable, Iterable, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from ..config import Config
from ..delivery import ComposedMessage, DeliveryTarget, RemoteRoute, Router, deliverComposed
from ..errors import UnknownRecipient
from ..interfaces import NULL_METRICS, IMailStore, IMetrics, IOutboundQueue
from .client import Timeouts
from .connector import Connector, readCredentials
from .control import ControlError, ControlFactory
from .dispatch import Dispatcher
from .dkim import DKIMSigner, SigningOutbound
from .dsn import composeBounce
from .entry import CorruptEntry, QueueEntry, Recipient
from .mx import MXResolver, makeResolver
from .pool import Pool
from .queue import DiskQueue, IRelayQueue
from .scheduler import Scheduler

__all__ = ["RelayService", "sendMail", "messageBytes"]

CONTROL_SOCKET = "control.sock"


def messageBytes(message: bytes | str | Message, hostname: str) -> bytes:
    """
    An application's message in wire form: CRLF lines, no C{Bcc:}, and
    C{Date:} and C{Message-ID:} added where missing (as Postfix's cleanup
    does).
    """
    if isinstance(message, Message):
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    else:
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    end = data.find(b"\r\n\r\n")
    head, body = (data[:end + 2], data[end + 2:]) if end >= 0 else (data + b"\r\n" if data else b"", b"\r\n")
    fields = _unfoldedFields(head)
    kept = b"".join(raw for name, raw in fields if name != b"bcc")
    names = {name for name, _ in fields}
    added = b""
    if b"date" not in names:
        added += b"Date: " + formatdate().encode("ascii") + b"\r\n"
    if b"message-id" not in names:
        added += b"Message-ID: " + make_msgid(domain=hostname).encode("ascii") + b"\r\n"
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return added + kept + body


def _unfoldedFields(head: bytes) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line + b"\r\n")
        else:
            fields.append((line.split(b":", 1)[0].strip().lower(), line + b"\r\n"))
    return fields


def sendMail(target: DeliveryTarget, router: Router, hostname: str, sender: str,
             recipients: str | Iterable[str], message: bytes | str | Message) -> Deferred:
    """
    Deliver an application's C{message}: local recipients to their
    mailboxes, the others into the outbound queue, all durable before the
    Deferred fires.

    @return: a Deferred firing with the queue id (with the first local
        message's UID when every recipient is local), or failing with
        L{UnknownRecipient} (a local address nobody receives),
        C{RelayUnavailable} (a remote one while C{relay.mode} is off) or
        C{DeliveryFailed}; nothing is kept when it fails.
    """
    def send() -> Deferred:
        addresses = [recipients] if isinstance(recipients, str) else list(recipients)
        if not addresses:
            raise ValueError("sendMail needs at least one recipient")
        routes = [router.route(address) for address in addresses]
        data = messageBytes(message, hostname)
        received = (f"Received: by {hostname} (twisted-mail-suite, sendMail);\r\n\t{formatdate()}\r\n").encode()
        subject = str(BytesHeaderParser(policy=default).parsebytes(data).get("Subject", ""))
        composed = ComposedMessage(sender, subject, f"Return-Path: <{sender}>\r\n".encode() + received + data)
        remote = any(isinstance(route, RemoteRoute) for route in routes)
        return deliverComposed(target, composed, routes).addCallback(lambda ids: ids[-1] if remote else ids[0])

    return maybeDeferred(send)


class RelayService(Service):
    """
    See the module docstring.

    @param store: the suite's (notifying) mail store, for local copies and
        local bounces.
    @param runBlocking: runs fsyncs and DKIM signing off the reactor thread.
    @param outbound: replaces the durable queue and the delivery (a
        harness's in-memory outbox).
    @param resolver: a twisted.names resolver (default: C{relay.nameservers}).
    @param queue: the relay's queue (L{IRelayQueue} and L{IOutboundQueue};
        default: the L{DiskQueue} under C{data_dir/queue}).
    @param metrics: the queue's size and each recipient's delivery result
        are counted there (L{IMetrics}).
    @ivar outbound: where outbound mail goes (L{IOutboundQueue}).
    @ivar target: the delivery target with this outbound queue.
    @ivar queue: the durable queue, or L{None} with an C{outbound} given.
    """

    log = Logger()

    def __init__(self, config: Config, reactor: Any, clock: Any, store: IMailStore, router: Router,
                 runBlocking: Callable[..., Deferred], outbound: IOutboundQueue | None = None,
                 resolver: Any = None, timeouts: Timeouts = Timeouts(), perDestination: int = 10,
                 rng: random.Random | None = None, metrics: IMetrics = NULL_METRICS,
                 queue: IRelayQueue | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self.reactor = reactor
        self.clock = clock
        self.router = router
        self.runBlocking = runBlocking
        self.resolver = resolver
        self.timeouts = timeouts
        self.perDestination = perDestination
        self.rng = rng
        self.queue: Any = None
        if outbound is None:
            self.queue = queue if queue is not None else DiskQueue(config.queueDir, clock, runBlocking)
            metrics.watchRelayQueue(self.queue.size)
            outbound = self.queue
        if config.relay.dkim:
            outbound = SigningOutbound(outbound, lambda: DKIMSigner.fromConfig(config.relay.dkim), runBlocking)
        self.outbound: IOutboundQueue = outbound
        self.target = DeliveryTarget(store, outbound, metrics)
        self.scheduler: Scheduler | None = None
        self.pool: Pool | None = None
        self.control: Any = None

    # Life

    def startService(self) -> None:
        super().startService()
        if isinstance(self.outbound, SigningOutbound):
            self.outbound.signer            # the keys are read (and checked) now
        if self.queue is None:
            return
        relay = self.config.relay
        credentials = readCredentials(relay.smarthost_auth_file) if relay.mode == "smarthost" else None
        if self.resolver is None:
            self.resolver = makeResolver(relay.nameservers, self.reactor)
        connector = Connector(self.reactor, self.clock, relay, self.config.hostname.encode("idna"),
                              MXResolver(self.resolver, self.rng), credentials, self.timeouts)
        self.pool = Pool(connector.connect, self.clock, self.perDestination)
        dispatcher = Dispatcher(self.queue, self.pool, connector.destinationOf)
        entries = self.queue.load()
        if entries:
            self.log.info("Outbound queue: {count} messages to send", count=len(entries))
        self.scheduler = Scheduler(self.queue, self.clock, dispatcher.deliver, self.bounce,
                                   relay.retry_schedule, relay.max_queue_lifetime, self.metrics)
        if relay.mode != "off":
            self.scheduler.start()
        self._listenControl()

    def _listenControl(self) -> None:
        assert self.queue is not None
        path = os.path.join(self.queue.root, CONTROL_SOCKET)
        if len(path.encode()) > 100:
            self.log.warn("No queue control socket: {path} is too long for a UNIX socket", path=path)
            return
        escaped = path.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")
        endpoint = serverFromString(self.reactor, f"unix:{escaped}:mode=600:lockfile=1")
        endpoint.listen(ControlFactory(self.operate)).addCallbacks(
            self._controlListening, lambda f: self.log.failure("No queue control socket", f))

    def _controlListening(self, port: Any) -> None:
        if self.running:
            self.control = port
        else:
            port.stopListening()

    def stopService(self) -> Deferred:
        super().stopService()
        if self.queue is None or self.scheduler is None or self.pool is None:
            return succeed(None)
        scheduler, pool, queue = self.scheduler, self.pool, self.queue
        control, self.control = self.control, None
        scheduler.stop()
        d = pool.stop().addCallback(lambda _: scheduler.whenIdle())
        d.addCallback(lambda _: queue.stop())
        if control is not None:
            d.addCallback(lambda _: control.stopListening())
        return d

    # Bounces

    def bounce(self, entry: QueueEntry, failed: Sequence[Recipient]) -> Deferred:
        """
        Queue (or deliver locally) the DSN telling C{entry}'s sender about
        C{failed}; a bounce of a bounce (null sender) is dropped and logged.
        """
        if not entry.sender:
            self.log.warn("{queueID}: undeliverable bounce dropped ({count} recipients)",
                          queueID=entry.queueID, count=len(failed))
            return succeed(None)
        assert self.queue is not None
        try:
            head = self.queue.readHead(entry)
        except CorruptEntry:
            head = b""
        subject, text = composeBounce(self.config.hostname, entry, failed, head, self.clock.seconds())
        try:
            route = self.router.route(entry.sender)
        except UnknownRecipient:
            self.log.warn("{queueID}: bounce dropped: no local user {sender}", queueID=entry.queueID,
                          sender=entry.sender)
            return succeed(None)
        message = ComposedMessage("", subject, b"Return-Path: <>\r\n" + text)
        d = deliverComposed(self.target, message, [route])
        return d.addCallback(lambda ids: self.log.info("{queueID}: sender non-delivery notification: {bounceID}",
                                                       queueID=entry.queueID, bounceID=ids[-1]))

    # The operator (the control socket)

    def _entry(self, queueID: Any) -> QueueEntry:
        entry = self.queue.get(str(queueID)) if self.queue is not None and queueID else None
        if entry is None:
            raise ControlError(f"no message {queueID} in the queue")
        return entry

    def describe(self, entry: QueueEntry) -> dict:
        description = entry.describe()
        description["active"] = self.scheduler is not None and entry.queueID in self.scheduler.active
        return description

    def operate(self, command: str, queueID: Any = None) -> Any:
        """
        One C{mailsuite-admin queue} command; see L{twisted_mail_suite.relay.control}.
        """
        if self.queue is None or self.scheduler is None:
            raise ControlError("this server keeps no outbound queue")
        scheduler = self.scheduler
        if command == "list":
            return [self.describe(entry) for entry in self.queue.entries()]
        if command == "flush":
            entries = [self._entry(queueID)] if queueID else self.queue.entries()
            for entry in entries:
                scheduler.flush(entry)
            return {"flushed": [e.queueID for e in entries]}
        entry = self._entry(queueID)
        if command == "show":
            description = self.describe(entry)
            try:
                description["headers"] = self.queue.readHead(entry).decode("utf-8", "replace")
            except CorruptEntry as e:
                description["headers"] = f"(unreadable: {e})"
            return description
        action = {"delete": scheduler.delete, "hold": scheduler.hold, "release": scheduler.release}[command]
        return action(entry).addCallback(lambda _: {command: entry.queueID})
