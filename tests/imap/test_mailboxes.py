# -*- test-case-name: tests.imap.test_mailboxes -*-
"""
Tests for L{twisted_mail_suite.imap.mailboxes} and
L{twisted_mail_suite.imap.listing}: ENABLE, SELECT/EXAMINE, CREATE,
DELETE, RENAME, SUBSCRIBE, APPEND, LIST, LSUB, NAMESPACE and STATUS.
"""
from __future__ import annotations

import calendar
import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.listing import matcher

from .support import MESSAGE, Client, deliver, newSuite


def loggedIn(testCase: SynchronousTestCase, **overrides: object) -> tuple[object, Client]:
    suite = newSuite(testCase, **overrides)
    client = Client(suite)
    client.login()
    return suite, client


class SelectTests(SynchronousTestCase):
    def test_selectRev1(self) -> None:
        """
        SELECT answers EXISTS, RECENT, FLAGS, PERMANENTFLAGS, UNSEEN,
        UIDVALIDITY and UIDNEXT, and READ-WRITE.
        """
        suite, client = loggedIn(self)
        deliver(suite, "alice", MESSAGE)
        lines, status = client.command(b"SELECT inbox")
        self.assertEqual(status, b"OK [READ-WRITE] Select completed.")
        self.assertEqual(lines[:3], [b"* 1 EXISTS", b"* 1 RECENT",
                                     b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)"])
        self.assertIn(b"* OK [UNSEEN 1] First unseen.", lines)
        self.assertTrue(any(line.startswith(b"* OK [UIDVALIDITY ") for line in lines))
        self.assertIn(b"* OK [UIDNEXT 2] Predicted next UID.", lines)

    def test_recentMovesToCur(self) -> None:
        """
        Selecting moves new mail to cur/ (Maildir's "seen by a client"):
        it is \\Recent in that session only.
        """
        suite, client = loggedIn(self)
        deliver(suite, "alice", MESSAGE)
        client.select()
        home = os.path.join(suite.config.mailDir, "alice")
        self.assertEqual(os.listdir(os.path.join(home, "new")), [])
        other = Client(suite)
        other.login()
        self.assertIn(b"* 0 RECENT", other.select())

    def test_selectRev2(self) -> None:
        """
        After ENABLE IMAP4rev2: no RECENT or UNSEEN, a LIST response, and
        selecting another mailbox reports [CLOSED] first.
        """
        suite, client = loggedIn(self)
        self.assertEqual(client.ok(b"ENABLE IMAP4rev2"), [b"* ENABLED IMAP4rev2"])
        lines = client.select()
        self.assertFalse(any(b"RECENT" in line or b"UNSEEN" in line for line in lines))
        self.assertIn(b'* LIST (\\HasNoChildren) "." INBOX', lines)
        self.assertEqual(client.select(b"Sent")[0], b"* OK [CLOSED] Previous mailbox closed.")

    def test_examine(self) -> None:
        """
        EXAMINE is read-only: no permanent flags, no STORE, no \\Recent claimed.
        """
        suite, client = loggedIn(self)
        deliver(suite, "alice", MESSAGE)
        lines, status = client.command(b"EXAMINE INBOX")
        self.assertEqual(status, b"OK [READ-ONLY] Examine completed.")
        self.assertIn(b"* OK [PERMANENTFLAGS ()] Flags permitted.", lines)
        self.assertEqual(client.command(b"STORE 1 +FLAGS \\Seen")[1], b"NO [READ-ONLY] Mailbox is read-only.")
        self.assertEqual(len(os.listdir(os.path.join(suite.config.mailDir, "alice", "new"))), 1)

    def test_selectMissing(self) -> None:
        """
        A failed SELECT leaves no mailbox selected.
        """
        suite, client = loggedIn(self)
        client.select()
        self.assertEqual(client.command(b"SELECT Nope")[1], b"NO [NONEXISTENT] Mailbox doesn't exist.")
        self.assertEqual(client.command(b"FETCH 1 FLAGS")[1], b"BAD Command not valid in this state.")

    def test_enableUnknown(self) -> None:
        suite, client = loggedIn(self)
        self.assertEqual(client.ok(b"ENABLE CONDSTORE"), [b"* ENABLED"])


class ManageTests(SynchronousTestCase):
    def test_createDeleteRename(self) -> None:
        suite, client = loggedIn(self)
        client.ok(b'CREATE "Work.2024"')
        self.assertEqual(client.command(b"CREATE Work")[1], b"NO [ALREADYEXISTS] Mailbox already exists.")
        self.assertEqual(client.command(b"DELETE Work")[1],
                         b"NO [HASCHILDREN] Mailbox has children, delete them first.")
        client.ok(b"RENAME Work Old")
        lines = client.ok(b'LIST "" "Old*"')
        self.assertEqual(lines, [b'* LIST (\\HasChildren) "." Old', b'* LIST (\\HasNoChildren) "." Old.2024'])
        client.ok(b"DELETE Old.2024")
        client.ok(b"DELETE Old")
        self.assertEqual(client.command(b"DELETE INBOX")[1], b"NO [CANNOT] Operation not permitted on this mailbox.")
        self.assertEqual(client.command(b"DELETE Nope")[1], b"NO [NONEXISTENT] Mailbox doesn't exist.")
        self.assertEqual(client.command(b'CREATE "a..b"')[1], b"NO [CANNOT] Invalid mailbox name.")

    def test_deleteSelected(self) -> None:
        """
        Deleting the selected mailbox unselects it.
        """
        suite, client = loggedIn(self)
        client.ok(b"CREATE x")
        client.select(b"x")
        client.ok(b"DELETE x")
        self.assertEqual(client.command(b"FETCH 1 FLAGS")[1], b"BAD Command not valid in this state.")

    def test_subscriptions(self) -> None:
        suite, client = loggedIn(self)
        client.ok(b"CREATE x")
        client.ok(b"SUBSCRIBE x")
        self.assertEqual(client.ok(b'LSUB "" x*'), [b'* LSUB () "." x'])
        client.ok(b"UNSUBSCRIBE x")
        self.assertEqual(client.ok(b'LSUB "" x*'), [])
        self.assertEqual(client.command(b"UNSUBSCRIBE x")[1], b"NO [NONEXISTENT] Mailbox doesn't exist.")

    def test_utf8Names(self) -> None:
        """
        IMAP4rev1 names are modified UTF-7; after ENABLE IMAP4rev2 the
        same mailbox is named in UTF-8.
        """
        suite, client = loggedIn(self)
        client.ok(b'CREATE "Caf&AOk-"')
        self.assertIn(b'* LIST (\\HasNoChildren) "." Caf&AOk-', client.ok(b'LIST "" Caf*'))
        self.assertTrue(os.path.isdir(os.path.join(suite.config.mailDir, "alice", ".Caf&AOk-")))
        client.ok(b"ENABLE IMAP4rev2")
        self.assertIn(b'* LIST (\\HasNoChildren) "." "Caf\xc3\xa9"', client.ok(b'LIST "" Caf*'))
        client.ok(b'SELECT "Caf\xc3\xa9"')
        client.ok(b'CREATE "\xc3\xa9t\xc3\xa9 & co"')
        self.assertTrue(os.path.isdir(os.path.join(suite.config.mailDir, "alice", ".&AOk-t&AOk- &- co")))

    def test_badModifiedUTF7(self) -> None:
        suite, client = loggedIn(self)
        self.assertEqual(client.command(b'CREATE "a&b"')[1], b"BAD Invalid mailbox name encoding.")


class AppendTests(SynchronousTestCase):
    def test_append(self) -> None:
        """
        APPEND stores the message with its flags and date and answers
        APPENDUID.
        """
        suite, client = loggedIn(self)
        client.send(b'a1 APPEND Sent (\\Seen $Label1) "02-Jan-2024 10:00:00 +0100" {%d}' % len(MESSAGE))
        out = client.send(MESSAGE)
        self.assertRegex(out, rb"^a1 OK \[APPENDUID \d+ 1\] Append completed.\r\n$")
        client.select(b"Sent")
        lines = client.ok(b"FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)")
        self.assertEqual(lines, [b'* 1 FETCH (FLAGS (\\Seen $Label1) INTERNALDATE " 2-Jan-2024 09:00:00 +0000" '
                                 b'RFC822.SIZE %d)' % len(MESSAGE)])
        self.assertEqual(calendar.timegm((2024, 1, 2, 9, 0, 0)),
                         os.stat(os.path.join(suite.config.mailDir, "alice", ".Sent", "cur",
                                              os.listdir(os.path.join(suite.config.mailDir, "alice", ".Sent",
                                                                      "cur"))[0])).st_mtime)

    def test_appendWithoutFlags(self) -> None:
        """
        The flag list and the date are optional (LITERAL+ too).
        """
        suite, client = loggedIn(self)
        out = client.raw(b"a1 APPEND INBOX {%d+}\r\n%s\r\n" % (len(MESSAGE), MESSAGE))
        self.assertTrue(out.startswith(b"a1 OK [APPENDUID"), out)

    def test_appendToSelected(self) -> None:
        """
        Appending to the selected mailbox announces EXISTS.
        """
        suite, client = loggedIn(self)
        client.select()
        out = client.raw(b"a1 APPEND INBOX {3+}\r\nx\r\n\r\n")
        self.assertTrue(out.startswith(b"* 1 EXISTS\r\n"), out)

    def test_appendMissing(self) -> None:
        suite, client = loggedIn(self)
        out = client.raw(b"a1 APPEND Nope {1+}\r\nx\r\n")
        self.assertEqual(out, b"a1 NO [TRYCREATE] Mailbox doesn't exist.\r\n")

    def test_appendBadFlag(self) -> None:
        suite, client = loggedIn(self)
        out = client.raw(b"a1 APPEND INBOX (\\Bogus) {1+}\r\nx\r\n")
        self.assertEqual(out, b"a1 BAD Invalid flag\r\n")

    def test_appendBadDate(self) -> None:
        suite, client = loggedIn(self)
        out = client.raw(b'a1 APPEND INBOX "yesterday" {1+}\r\nx\r\n')
        self.assertEqual(out, b"a1 BAD Invalid date-time\r\n")


class ListTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite, self.client = loggedIn(self)
        self.client.ok(b"CREATE Archive.2024")

    def test_listAll(self) -> None:
        """
        LIST shows every mailbox with children and special-use attributes.
        """
        self.assertEqual(self.client.ok(b'LIST "" *'), [
            b'* LIST (\\HasNoChildren) "." INBOX',
            b'* LIST (\\HasChildren \\Archive) "." Archive',
            b'* LIST (\\HasNoChildren) "." Archive.2024',
            b'* LIST (\\HasNoChildren \\Drafts) "." Drafts',
            b'* LIST (\\HasNoChildren \\Junk) "." Junk',
            b'* LIST (\\HasNoChildren \\Sent) "." Sent',
            b'* LIST (\\HasNoChildren \\Trash) "." Trash'])

    def test_percent(self) -> None:
        self.assertNotIn(b'* LIST (\\HasNoChildren) "." Archive.2024', self.client.ok(b'LIST "" %'))

    def test_reference(self) -> None:
        self.assertEqual(self.client.ok(b'LIST Archive. %'), [b'* LIST (\\HasNoChildren) "." Archive.2024'])

    def test_delimiter(self) -> None:
        self.assertEqual(self.client.ok(b'LIST "" ""'), [b'* LIST (\\Noselect) "." ""'])

    def test_inboxAnyCase(self) -> None:
        self.assertEqual(self.client.ok(b'LIST "" inbox'), [b'* LIST (\\HasNoChildren) "." INBOX'])

    def test_specialUseSelection(self) -> None:
        lines = self.client.ok(b'LIST (SPECIAL-USE) "" *')
        self.assertEqual(len(lines), 5)

    def test_subscribedSelection(self) -> None:
        """
        LIST (SUBSCRIBED) lists subscriptions, marking ones that are gone.
        """
        self.client.ok(b"SUBSCRIBE Archive")
        self.client.ok(b"DELETE Junk")
        lines = self.client.ok(b'LIST (SUBSCRIBED) "" *')
        self.assertIn(b'* LIST (\\NonExistent \\Subscribed) "." Junk', lines)
        self.assertIn(b'* LIST (\\HasChildren \\Archive \\Subscribed) "." Archive', lines)

    def test_returnStatus(self) -> None:
        deliver(self.suite, "alice", MESSAGE)
        lines = self.client.ok(b'LIST "" INBOX RETURN (SUBSCRIBED STATUS (MESSAGES UNSEEN))')
        self.assertEqual(lines, [b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                                 b"* STATUS INBOX (MESSAGES 1 UNSEEN 1)"])

    def test_multiplePatterns(self) -> None:
        self.assertEqual(len(self.client.ok(b'LIST "" (Sent Trash)')), 2)

    def test_matcher(self) -> None:
        self.assertTrue(matcher("a*")("a.b.c"))
        self.assertFalse(matcher("a%")("a.b"))
        self.assertTrue(matcher("INBOX")("INBOX"))
        self.assertTrue(matcher("InBoX")("INBOX"))
        self.assertFalse(matcher("a.b")("aXb"))

    def test_namespace(self) -> None:
        self.assertEqual(self.client.ok(b"NAMESPACE"), [b'* NAMESPACE (("" ".")) NIL NIL'])

    def test_status(self) -> None:
        deliver(self.suite, "alice", MESSAGE)
        lines = self.client.ok(b"STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN SIZE DELETED)")
        self.assertEqual(lines, [b"* STATUS INBOX (MESSAGES 1 RECENT 1 UIDNEXT 2 UNSEEN 1 SIZE %d DELETED 0)"
                                 % len(MESSAGE)])
        self.assertEqual(self.client.command(b"STATUS Nope (MESSAGES)")[1], b"NO [NONEXISTENT] Mailbox doesn't exist.")
        self.assertEqual(self.client.command(b"STATUS INBOX (BOGUS)")[1], b"BAD Invalid status item.")
