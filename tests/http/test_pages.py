# -*- test-case-name: tests.http.test_pages -*-
"""
The web pages without a browser (L{twisted_mail_suite.http.pages},
L{twisted_mail_suite.http.pages_inbox}): a real suite on loopback
(L{ThreadedHarness}), mail sent over SMTP, pages read with
C{http.client} after a login through the form.
"""
from __future__ import annotations

import html
import http.client
import re
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.http.pages import esc, formatSize
from twisted_mail_suite.http.pages_inbox import FRAME_POLICY
from twisted_mail_suite.testing.threaded import ThreadedHarness

HOSTILE = '<script>alert("pwned")</script>'


class Response:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)  # type: ignore[no-any-return]


class WebClient:
    """
    A cookie-keeping HTTP client of one suite's web listener (no redirect followed).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            cookie = rest.split(";", 1)[0]
            if cookie:
                self.cookies[name] = cookie
            else:
                self.cookies.pop(name, None)
        return Response(response.status, response.headers, data)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Response:
        return self.request("POST", path, form, {"Origin": f"http://127.0.0.1:{self.port}"})

    def login(self, user: str, password: str) -> Response:
        form = self.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, form
        return self.post("/login", {"username": user, "password": password, "csrf_token": token.group(1),
                                    "next": "/inbox"})


def csrfOf(page: str) -> str:
    """
    The session's CSRF token in a page's forms.
    """
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return html.unescape(found.group(1))


class PagesTestCase(SynchronousTestCase):
    """
    A suite on loopback (alice an admin), and C{self.web} logged in as alice.
    """

    admins = ["alice"]

    def setUp(self) -> None:
        self.harness = ThreadedHarness(overrides={"http.admins": self.admins})
        self.harness.start()
        self.addCleanup(self.harness.stop)
        self.web = WebClient(self.harness.ports()["http"])
        response = self.web.login("alice", self.harness.users["alice"])
        self.assertEqual((response.status, response.header("Location")), (303, "/inbox"))

    def send(self, subject: str, text: str | None = "Hello.\n", markup: str | None = None, to: str = "alice") -> str:
        """
        Deliver a message over SMTP; return its id.
        """
        message = EmailMessage()
        message["From"] = "Carol <carol@example.net>"
        message["To"] = self.harness.address(to)
        message["Subject"] = subject
        if text is not None:
            message.set_content(text)
        if markup is not None:
            if text is not None:
                message.add_alternative(markup, subtype="html")
            else:
                message.set_content(markup, subtype="html")
        with smtplib.SMTP("127.0.0.1", self.harness.ports()["smtp"], timeout=10) as client:
            client.send_message(message)
        self.harness.waitForMessage(to=to, subject=subject, timeout=10)
        return self.messageIDs(to)[-1]

    def messageIDs(self, user: str = "alice") -> list[str]:
        stored = self.harness.callInReactor(lambda: self.harness.harness.store.listMessages(user))
        return [message.uid for message in stored]


class InboxTests(PagesTestCase):
    """
    C{/inbox}: the list.
    """

    def test_strangerSentToLogin(self) -> None:
        """
        Without a session, the inbox sends the browser to the login form.
        """
        response = WebClient(self.web.port).get("/inbox")
        self.assertEqual((response.status, response.header("Location")), (303, "/login?next=/inbox"))

    def test_homeIsInbox(self) -> None:
        """
        C{/} leads to the inbox.
        """
        response = self.web.get("/")
        self.assertEqual((response.status, response.header("Location")), (303, "/inbox"))

    def test_listed(self) -> None:
        """
        The inbox lists sender, subject, size and an unread mark.
        """
        messageID = self.send("Quarterly numbers")
        response = self.web.get("/inbox")
        self.assertEqual(response.status, 200)
        self.assertIn("Quarterly numbers", response.text)
        self.assertIn("Carol &lt;carol@example.net&gt;", response.text)
        self.assertIn(f'<tr class="unread" data-id="{esc(messageID)}">', response.text)
        self.assertIn("1 unread", response.text)

    def test_hostileSubjectEscaped(self) -> None:
        """
        A subject with markup is shown as text, never as markup.
        """
        self.send(HOSTILE)
        text = self.web.get("/inbox").text
        self.assertNotIn("<script>alert", text)
        self.assertIn(esc(HOSTILE), text)

    def test_securityHeaders(self) -> None:
        """
        The pages carry the site's Content-Security-Policy (no inline
        script) and a phone-friendly viewport.
        """
        response = self.web.get("/inbox")
        policy = response.header("Content-Security-Policy") or ""
        self.assertIn("default-src 'none'", policy)
        self.assertIn("script-src 'self'", policy)
        self.assertNotIn("unsafe-inline", policy)
        self.assertIn('<meta name="viewport" content="width=device-width, initial-scale=1">', response.text)
        self.assertEqual(response.header("Content-Type"), "text/html; charset=utf-8")


class MessageTests(PagesTestCase):
    """
    C{/inbox/{id}}: reading, downloading and deleting one message.
    """

    def test_textPart(self) -> None:
        """
        A text message is shown as preformatted text, escaped, and is seen afterwards.
        """
        messageID = self.send("Plain", "line one\n<b>not bold</b>\n")
        page = self.web.get(f"/inbox/{messageID}").text
        self.assertIn('<pre class="body">line one\n&lt;b&gt;not bold&lt;/b&gt;', page)
        self.assertIn(f'<tr class="read" data-id="{esc(messageID)}">', self.web.get("/inbox").text)

    def test_htmlSandboxed(self) -> None:
        """
        An HTML part is shown only inside a sandboxed frame without
        scripts, under a policy without remote content; nothing of it is
        markup of the page itself.
        """
        markup = f'<p>Hi</p>{HOSTILE}<img src="http://tracker.example/pixel.png">'
        messageID = self.send("Newsletter", None, markup)
        page = self.web.get(f"/inbox/{messageID}").text
        frame = re.search(r"<iframe [^>]*>", page)
        assert frame is not None
        self.assertIn('sandbox=""', frame.group(0))
        self.assertNotIn("allow-scripts", frame.group(0))
        srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame.group(0)).group(1))  # type: ignore[union-attr]
        self.assertTrue(srcdoc.startswith(FRAME_POLICY))
        self.assertIn(HOSTILE, srcdoc)
        self.assertNotIn("<script>alert", page)
        self.assertNotIn('<img src="http://tracker', page)

    def test_textOfAlternative(self) -> None:
        """
        A message with both parts shows the HTML one, and the text one on request.
        """
        messageID = self.send("Both", "the text part\n", "<p>the html part</p>")
        self.assertIn("<iframe", self.web.get(f"/inbox/{messageID}").text)
        page = self.web.get(f"/inbox/{messageID}?view=text").text
        self.assertIn('<pre class="body">the text part', page)
        self.assertNotIn("<iframe", page)

    def test_raw(self) -> None:
        """
        The raw download is the stored message, as an attachment.
        """
        messageID = self.send("Raw one", "raw body\n")
        response = self.web.get(f"/inbox/{messageID}/raw")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("Content-Type"), "message/rfc822")
        self.assertEqual(response.header("Content-Disposition"), f'attachment; filename="{messageID}.eml"')
        self.assertIn(b"Subject: Raw one\r\n", response.body)
        self.assertIn(b"raw body", response.body)

    def test_unknown(self) -> None:
        """
        An unknown message, an id that cannot be one, or another path below it is a 404 page.
        """
        self.send("Present")
        for path in ("/inbox/1234.nothing", "/inbox/..%2F..%2Fetc", "/inbox/.hidden", "/inbox/x/y/z",
                     f"/inbox/{self.messageIDs()[0]}/other"):
            response = self.web.get(path)
            self.assertEqual(response.status, 404, path)
            self.assertIn("<h1>404</h1>", response.text)

    def test_deleteNeedsCSRF(self) -> None:
        """
        A delete without the session's CSRF token is refused (403) and
        keeps the message; with it, the message is gone and the inbox says so.
        """
        messageID = self.send("Delete me")
        refused = self.web.post(f"/inbox/{messageID}/delete", {})
        self.assertEqual(refused.status, 403)
        wrong = self.web.post(f"/inbox/{messageID}/delete", {"csrf_token": "forged"})
        self.assertEqual(wrong.status, 403)
        self.assertEqual(self.messageIDs(), [messageID])
        token = csrfOf(self.web.get(f"/inbox/{messageID}").text)
        deleted = self.web.post(f"/inbox/{messageID}/delete", {"csrf_token": token})
        self.assertEqual((deleted.status, deleted.header("Location")), (303, "/inbox?deleted=1"))
        self.assertEqual(self.messageIDs(), [])
        self.assertIn("Message deleted.", self.web.get("/inbox?deleted=1").text)

    def test_deleteFromOtherSite(self) -> None:
        """
        A delete whose C{Origin} is another site is refused, token or not.
        """
        messageID = self.send("Keep me")
        token = csrfOf(self.web.get("/inbox").text)
        refused = self.web.request("POST", f"/inbox/{messageID}/delete", {"csrf_token": token},
                                   {"Origin": "http://evil.example"})
        self.assertEqual(refused.status, 403)
        self.assertEqual(self.messageIDs(), [messageID])

    def test_otherUsersMessage(self) -> None:
        """
        Bob's message is not found in Alice's inbox.
        """
        messageID = self.send("For bob", to="bob")
        self.assertEqual(self.web.get(f"/inbox/{messageID}").status, 404)
        self.assertEqual(self.web.get(f"/inbox/{messageID}/raw").status, 404)


class ChatAndStaticTests(PagesTestCase):
    """
    The chat page and the static files.
    """

    def test_chatPage(self) -> None:
        """
        C{/chat} is the chat page, with its script from C{/static/}.
        """
        response = self.web.get("/chat")
        self.assertEqual(response.status, 200)
        self.assertIn('<script src="/static/chat.js" defer></script>', response.text)
        self.assertIn('id="chat-form"', response.text)

    def test_static(self) -> None:
        """
        The style sheet and scripts are served with their types; any other name is a 404.
        """
        css = self.web.get("/static/app.css")
        self.assertEqual((css.status, css.header("Content-Type")), (200, "text/css; charset=utf-8"))
        script = self.web.get("/static/chat.js")
        self.assertEqual((script.status, script.header("Content-Type")), (200, "text/javascript; charset=utf-8"))
        for path in ("/static/nope.js", "/static/../pages.py", "/static/%2E%2E/pages.py", "/static/"):
            self.assertEqual(self.web.get(path).status, 404, path)


class FormatTests(SynchronousTestCase):
    """
    The small formatting helpers.
    """

    def test_sizes(self) -> None:
        """
        Sizes are shown in B, KB or MB.
        """
        self.assertEqual([formatSize(n) for n in (512, 3500, 5 * 1024 * 1024)], ["512 B", "3.4 KB", "5.0 MB"])

    def test_esc(self) -> None:
        """
        Escaping covers markup and both quotes.
        """
        self.assertEqual(esc("<a href=\"x\" title='y'>&"), "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;")
