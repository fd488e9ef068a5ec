# -*- test-case-name: tests.integration.test_nginx -*-
"""
A real nginx mail proxy (Debian's C{nginx} and C{libnginx-mod-mail},
skipped when missing) in front of the suite: nginx asks our
C{proxy.auth_http} endpoint, then proxies to our listeners and names the
real client with XCLIENT.  On loopback the real client is told apart from
nginx by its address: the clients connect from 127.0.0.2, nginx reaches
us from 127.0.0.1, so 127.0.0.2 in C{Received:} can only have come from
XCLIENT.
"""
from __future__ import annotations

import imaplib
import os
import poplib
import smtplib
import subprocess
import time
from email.message import EmailMessage

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.net.tls import ServerTLS
from twisted_mail_suite.testing import ThreadedHarness
from twisted_mail_suite.testing.nginx import (
    MailServer, NginxMail, freePort, mailConfig, mailModule, missing, nginxBinary)

USERS = {"alice": "secret", "bob": "hunter2"}
CLIENT = ("127.0.0.2", 0)           # the "real" client's address; nginx reaches us from 127.0.0.1
SECRET = "shared-with-nginx"
DOCS_CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "nginx.conf")


def message(sender: str, to: str, subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail.set_content("through nginx\n")
    return mail


class NginxTests(SynchronousTestCase):
    """
    Submission, MX, POP3 and IMAP through nginx; XCLIENT only from nginx.
    """

    def setUp(self) -> None:
        reason = missing()
        if reason is not None:
            raise SkipTest(reason)
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        secretFile = os.path.join(work, "secret")
        with open(secretFile, "w") as f:
            f.write(SECRET + "\n")
        self.mail = ThreadedHarness(users=USERS, overrides={
            "proxy.auth_http.listen": ["tcp:0:interface=127.0.0.1"], "proxy.auth_http.secret_file": secretFile,
            "proxy.trusted": ["127.0.0.1"], "auth.failure_delay": 0.1}).start()
        self.addCleanup(self.mail.stop)
        self.ports = {name: freePort() for name in ("submission", "mx", "pop3", "imap")}
        servers = [MailServer(self.ports["submission"], "smtp", "login plain"),
                   MailServer(self.ports["mx"], "smtp", "none"),
                   MailServer(self.ports["pop3"], "pop3", "plain"),
                   MailServer(self.ports["imap"], "imap", "plain")]
        prefix = os.path.join(work, "nginx")
        os.makedirs(prefix)
        self.nginx = NginxMail(prefix, mailConfig(prefix, self.mail.auth_httpPort, SECRET, servers),
                               [("127.0.0.1", port) for port in self.ports.values()]).start()
        self.addCleanup(self.nginx.stop)

    def smtp(self, name: str) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.ports[name], timeout=20, source_address=CLIENT)
        self.addCleanup(client.close)
        return client

    def test_submission(self) -> None:
        """
        AUTH at nginx (checked by our auth_http), then the message goes to
        our submission port logged in through XCLIENT LOGIN; Received names
        the real client's address and the user.
        """
        client = self.smtp("submission")
        client.ehlo("laptop.test")
        client.login("alice", USERS["alice"])
        client.send_message(message(self.mail.address("alice"), self.mail.address("bob"), "submitted"))
        client.quit()
        received = self.mail.waitForMessage(to="bob", subject="submitted", timeout=10)["Received"]
        self.assertIn("[127.0.0.2]", received)
        self.assertIn("authenticated as alice", received)
        self.assertIn("laptop.test", received)

    def test_mx(self) -> None:
        """
        Mail from another server (no AUTH) for a local user is delivered;
        Received names the real client.
        """
        client = self.smtp("mx")
        client.ehlo("mx.remote.test")
        client.send_message(message("carol@remote.test", self.mail.address("bob"), "from afar"))
        client.quit()
        received = self.mail.waitForMessage(to="bob", subject="from afar", timeout=10)["Received"]
        self.assertIn("[127.0.0.2]", received)
        self.assertIn("mx.remote.test", received)
        self.assertNotIn("authenticated", received)

    def test_mxNotLocal(self) -> None:
        """
        MX for another domain is refused (our auth_http says no): 550.
        """
        client = self.smtp("mx")
        client.ehlo("mx.remote.test")
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as caught:
            client.sendmail("carol@remote.test", ["someone@elsewhere.test"], b"Subject: x\r\n\r\nx\r\n")
        self.assertEqual([code for code, _ in caught.exception.recipients.values()], [550])

    def test_wrongPassword(self) -> None:
        """
        A wrong password gets nginx's error (our Auth-Error-Code) only
        after Auth-Wait (1 s, beyond the policy's 0.1 s), and the client
        may try again on the same connection.
        """
        client = self.smtp("submission")
        client.ehlo("laptop.test")
        started = time.monotonic()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as caught:
            client.login("alice", "wrong")
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        self.assertEqual(caught.exception.smtp_code, 535)
        client.login("alice", USERS["alice"])

    def test_pop3(self) -> None:
        """
        POP3 USER/PASS through nginx reads the mailbox.
        """
        self.sendDirect("for pop3")
        client = poplib.POP3("127.0.0.1", self.ports["pop3"], timeout=20)
        self.addCleanup(client.close)
        client.user("bob")
        client.pass_(USERS["bob"])
        self.assertEqual(client.stat()[0], 1)
        self.assertIn(b"Subject: for pop3", client.retr(1)[1])
        client.quit()

    def test_imap(self) -> None:
        """
        IMAP LOGIN through nginx reads the mailbox.
        """
        self.sendDirect("for imap")
        client = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=20)
        self.addCleanup(client.sock.close)
        client.login("bob", USERS["bob"])
        client.select("INBOX")
        status, found = client.search(None, "SUBJECT", '"for imap"')
        self.assertEqual((status, len(found[0].split())), ("OK", 1))
        client.logout()

    def test_xclientFromUntrusted(self) -> None:
        """
        Straight to our SMTP from an address not in proxy.trusted: no
        XCLIENT in EHLO, and XCLIENT refused 550 5.7.0.
        """
        client = smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=20, source_address=CLIENT)
        self.addCleanup(client.close)
        code, features = client.ehlo("me.test")
        self.assertEqual(code, 250)
        self.assertNotIn(b"XCLIENT", features)
        code, text = client.docmd("XCLIENT", "ADDR=192.0.2.1")
        self.assertEqual((code, text[:5]), (550, b"5.7.0"))

    def sendDirect(self, subject: str) -> None:
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=20) as client:
            client.send_message(message("carol@remote.test", self.mail.address("bob"), subject))
        self.mail.waitForMessage(to="bob", subject=subject, timeout=10)


class DocsConfigTests(SynchronousTestCase):
    def test_nginxAcceptsIt(self) -> None:
        """
        docs/nginx.conf passes C{nginx -t}, with this machine's module, a
        certificate of ours and its files in a temporary folder.
        """
        reason = missing()
        if reason is not None:
            raise SkipTest(reason)
        folder = os.path.abspath(self.mktemp())
        tls = ServerTLS(configFromDict({"data_dir": folder}))
        tls.ensure()
        with open(DOCS_CONFIG, encoding="utf-8") as f:
            text = f.read()
        for old, new in [("/usr/lib/nginx/modules/ngx_mail_module.so", mailModule()),
                         ("/run/nginx-mail.pid", os.path.join(folder, "nginx.pid")),
                         ("/var/log/nginx/mail-error.log", os.path.join(folder, "error.log")),
                         ("/etc/ssl/mail/fullchain.pem", tls.certPath), ("/etc/ssl/mail/privkey.pem", tls.keyPath)]:
            self.assertIn(old, text)
            text = text.replace(old, str(new))
        if os.getuid() != 0:
            text = text.replace("user www-data;", "")
        path = os.path.join(folder, "nginx.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        checked = subprocess.run([str(nginxBinary()), "-t", "-p", folder, "-e", os.path.join(folder, "error.log"),
                                  "-c", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("test is successful", checked.stderr)
