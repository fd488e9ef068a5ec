# -*- test-case-name: tests.http.test_browser -*-
"""
The web pages in a real browser (headless Chromium through selenium; see
L{tests.http.browser}): log in, read and delete a message delivered over
SMTP, a wrong password, the chat in the page with a TCP chat client, an
admin page.  The inbox and chat tests take the screenshots of
C{docs/screenshots/} (written there with C{MAILSUITE_SCREENSHOTS=docs}).
"""
from __future__ import annotations

import os
import smtplib
import socket
import time
from email.message import EmailMessage

from twisted.trial.unittest import SynchronousTestCase

from tests.http.browser import BrowserSession, sharedSession


def sendMail(session: BrowserSession, to: str, subject: str, text: str, sender: str = "carol@example.net") -> None:
    """
    Send a message to the suite's MX port with smtplib, and wait until it is in the mailbox.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = session.harness.address(to)
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", session.harness.ports()["smtp"], timeout=10) as client:
        client.send_message(message)
    session.harness.waitForMessage(to=to, subject=subject, timeout=10)


class TCPChatClient:
    """
    A chat client on the chat's TCP port (blocking, line by line).
    """

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.socket.makefile("rwb")

    def send(self, line: str) -> None:
        self.file.write(line.encode("utf-8") + b"\n")
        self.file.flush()

    def expect(self, predicate: object, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.file.readline()
            if not raw:
                break
            line = raw.decode("utf-8").rstrip("\r\n")
            if predicate(line):  # type: ignore[operator]
                return line
        raise AssertionError("the line never came")

    def close(self) -> None:
        self.file.close()
        self.socket.close()


class BrowserTestCase(SynchronousTestCase):
    """
    The module's browser and suite; each test starts logged out with empty mailboxes.
    """

    def setUp(self) -> None:
        self.session = sharedSession(__name__)
        self.session.harness.clear()
        self.session.driver.delete_all_cookies()


class InboxTests(BrowserTestCase):
    """
    The inbox, after a login through the form.
    """

    def test_readAndDelete(self) -> None:
        """
        A message sent over SMTP shows in the inbox, unread; it opens with
        its text, and the Delete button removes it.
        """
        session = self.session
        sendMail(session, "alice", "Lunch on Friday?", "Shall we try the new place on the corner?\n")
        sendMail(session, "alice", "Build 1234 passed", "All 812 tests passed in 3 min 12 s.\n",
                 sender="ci@example.net")
        session.login("alice")
        session.waitFor(lambda: "/inbox" in session.driver.current_url, what="the inbox")
        rows = session.waitFor(lambda: session.findAll("table.messages tbody tr"), what="the messages")
        self.assertEqual(len(rows), 2)
        self.assertEqual(len(session.findAll("tr.unread")), 2)
        self.assertIn("Lunch on Friday?", session.find("table.messages").text)
        self.assertTrue(os.path.getsize(session.screenshot("inbox")) > 10_000)
        with session.phoneSized():
            session.waitFor(lambda: not session.find("td.date").is_displayed(), what="the narrow layout")
            session.screenshot("inbox-phone")
        session.driver.find_element("link text", "Lunch on Friday?").click()
        subject = session.waitFor(lambda: session.find("h1.subject"), what="the message")
        self.assertEqual(subject.text, "Lunch on Friday?")
        self.assertIn("Shall we try the new place", session.find("pre.body").text)
        session.find("#delete").click()
        notice = session.waitFor(lambda: session.find("p.notice"), what="the deletion notice")
        self.assertEqual(notice.text, "Message deleted.")
        remaining = session.findAll("table.messages tbody tr")
        self.assertEqual([row.find_element("css selector", "td.subject a").text for row in remaining],
                         ["Build 1234 passed"])
        self.assertEqual([m.subject for m in session.harness.messagesFor("alice")], ["Build 1234 passed"])

    def test_wrongPassword(self) -> None:
        """
        A wrong password keeps the browser on the login form, with an error.
        """
        session = self.session
        session.login("alice", "not the password")
        error = session.waitFor(lambda: session.find("[role=alert]"), what="the error")
        self.assertIn("Wrong user name or password", error.text)
        self.assertIn("/login", session.driver.current_url)
        self.assertEqual(session.driver.get_cookie("mailsuite_session"), None)


class ChatTests(BrowserTestCase):
    """
    The chat page and a TCP chat client in the same room.
    """

    def test_chatWithTCPClient(self) -> None:
        """
        A line typed in the page reaches a TCP chat client, and the
        client's answer shows in the page, under the logged-in user's name.
        """
        session = self.session
        session.login("bob")
        session.waitFor(lambda: "/inbox" in session.driver.current_url, what="the inbox")
        tcp = TCPChatClient(session.harness.ports()["chat"])
        self.addCleanup(tcp.close)
        tcp.expect(lambda line: line.startswith("*** you joined #lobby"))
        tcp.send("/nick dave")
        tcp.expect(lambda line: line == "*** you are now dave")
        session.open("/chat")
        session.waitFor(lambda: "logged in as bob" in session.find("#chat-lines").text, what="the login")
        field = session.find("#chat-input")
        field.send_keys("hello from the browser")
        session.find("#chat-form button").click()
        self.assertEqual(tcp.expect(lambda line: "hello from the browser" in line),
                         "[#lobby] bob: hello from the browser")
        tcp.send("hi bob, the build is green")
        session.waitFor(lambda: "dave: hi bob, the build is green" in session.find("#chat-lines").text,
                        what="the TCP client's line")
        session.screenshot("chat")


class AdminTests(BrowserTestCase):
    """
    The admin pages, for a user of C{http.admins}.
    """

    def queueAndOpen(self, recipient: str) -> None:
        """
        Queue a message for C{recipient} (another domain: it waits in the
        queue), log in as the admin alice and open the queue page.
        """
        session = self.session
        harness = session.harness
        message = (b"From: alice@example.test\r\nTo: " + recipient.encode("ascii")
                   + b"\r\nSubject: Quarterly report\r\n\r\nAttached.\r\n")
        harness.callInReactor(lambda: harness.harness.suite.sendMail(harness.address("alice"), recipient, message))
        session.login("alice")
        session.waitFor(lambda: "/inbox" in session.driver.current_url, what="the inbox")
        session.open("/admin/queue")

    def test_queueListed(self) -> None:
        """
        A message waiting for another domain is listed on the queue page.
        """
        session = self.session
        self.queueAndOpen("someone@remote.example")
        table = session.waitFor(lambda: session.find("table.queue"), what="the queue")
        self.assertIn("someone@remote.example", table.text)

    def test_queueDelete(self) -> None:
        """
        The Delete button of a queued message removes it through the
        admin API (after a confirmation), and the page reloads without it.
        """
        session = self.session
        self.queueAndOpen("gone@remote.example")
        row = session.waitFor(lambda: [row for row in session.findAll("table.queue tbody tr")
                                       if "gone@remote.example" in row.text], what="the queued message")[0]
        row.find_element("css selector", "button.danger").click()
        session.waitFor(lambda: session.driver.switch_to.alert, what="the confirmation").accept()
        session.waitFor(lambda: "gone@remote.example" not in session.find("main").text, what="the reload")

