# -*- test-case-name: tests.chat.test_offline -*-
"""
Tests for L{twisted_mail_suite.chat.offline}: a private message to an
offline user becomes a mail.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat.offline import deliverChatMail

from ..fakes import makeSuite


class OfflineMailTests(SynchronousTestCase):
    def test_chatOfflineMail(self) -> None:
        """
        A chat user's offline message becomes a mail from chat@hostname.
        """
        suite = makeSuite(self)
        self.successResultOf(deliverChatMail(suite.config, suite.store, "alice", "bob", "see you at 5"))
        [stored] = suite.store.listMessages("bob")
        with suite.store.openMessage("bob", stored.uid) as f:
            text = f.read()
        self.assertIn(b"<chat@mx.example.test>", text)
        self.assertIn(b"see you at 5", text)
