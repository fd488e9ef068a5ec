# -*- test-case-name: tests.chat.test_avatars -*-
"""
Tests for L{twisted_mail_suite.chat.avatars}.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.chat.avatars import ChatUser, registerAvatars
from twisted_mail_suite.identity.realm import MailSuiteRealm
from twisted_mail_suite.interfaces import IChatUser


class ChatUserTests(SynchronousTestCase):
    """
    The chat avatar and its registration with the realm.
    """

    def test_verify(self) -> None:
        """
        L{ChatUser} provides L{IChatUser}.
        """
        self.assertTrue(verifyObject(IChatUser, ChatUser("alice")))

    def test_registered(self) -> None:
        """
        Once registered, the realm gives a logged-in user a L{ChatUser}
        named after them, and none to an anonymous login.
        """
        realm = MailSuiteRealm()
        registerAvatars(realm)
        interface, avatar, logout = realm.requestAvatar("alice", None, IChatUser)
        self.assertEqual((interface, avatar.name), (IChatUser, "alice"))
        self.assertIsNone(logout())
        self.assertRaises(NotImplementedError, realm.requestAvatar, None, None, IChatUser)
