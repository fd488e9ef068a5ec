# -*- test-case-name: tests.http.test_browser -*-
"""
A real browser for the web pages' tests: headless Chromium driven by
selenium through chromedriver, with a fresh profile in a temporary folder,
no network but loopback (no first-run, sync, component updates, QUIC or
background requests), and the suite in this process
(L{ThreadedHarness}: its reactor in a thread, so the blocking selenium
calls of a test never stall it) on free loopback ports.

One L{BrowserSession} per test module (L{sharedSession}): starting
Chromium costs about a second.  It is closed when the process exits
(chromedriver and Chromium stopped through selenium, by their own
process), since trial has no per-module tear-down.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from twisted.trial.unittest import SkipTest

from twisted_mail_suite.testing.threaded import ThreadedHarness

__all__ = ["BrowserSession", "SCREENSHOTS", "findBrowser", "sharedSession"]

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
SCREENSHOTS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "screenshots")
CHROME_ARGUMENTS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1100,800")


def findBrowser() -> tuple[str, str]:
    """
    The paths of Chromium and chromedriver.

    @raise SkipTest: one of them (or selenium) is missing.
    """
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise SkipTest("selenium is not installed (pip install -e '.[test]')") from None
    driver = CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK) else shutil.which("chromedriver")
    browser = next((found for found in map(shutil.which, CHROMIUM_NAMES) if found), None)
    if driver is None or browser is None:
        raise SkipTest("headless Chromium tests need the chromium and chromium-driver packages "
                       "(apt-get install chromium chromium-driver)")
    return browser, driver


class BrowserSession:
    """
    The suite (C{harness}, with C{alice} an admin of C{http.admins}, and
    a real outbound queue that cannot deliver) and one browser (C{driver})
    looking at it.
    """

    def __init__(self) -> None:
        browser, driver = findBrowser()
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        # Mail for other domains goes to a smarthost port where nothing listens: it stays queued.
        self.harness = ThreadedHarness(overrides={"http.admins": ["alice"], "chat.lines_per_second": 0},
                                       relay={"mode": "smarthost", "smarthost": "127.0.0.1:9",
                                              "smarthost_tls": "none"})
        self.harness.start()
        self.profile = tempfile.mkdtemp(prefix="mailsuite-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for argument in CHROME_ARGUMENTS + (f"--user-data-dir={self.profile}",):
            options.add_argument(argument)
        self.service = Service(executable_path=driver)
        try:
            self.driver = webdriver.Chrome(service=self.service, options=options)
        except Exception:
            self.harness.stop()
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.implicitly_wait(0)
        self.base = f"http://127.0.0.1:{self.harness.ports()['http']}"

    def close(self) -> None:
        """
        Quit the browser (and its driver), stop the suite, remove the profile.
        """
        try:
            self.driver.quit()
        finally:
            self.harness.stop()
            shutil.rmtree(self.profile, ignore_errors=True)
            shutil.rmtree(self.profile + "-shots", ignore_errors=True)

    # -- driving -----------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str) -> Any:
        return self.driver.find_element("css selector", css)

    def findAll(self, css: str) -> list[Any]:
        return self.driver.find_elements("css selector", css)

    def waitFor(self, condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """
        Poll C{condition} until it returns something true (returned), for
        at most C{timeout} seconds: the page changes on its own time.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = condition()
            except Exception:           # not there yet (NoSuchElement, stale element)
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                page = self.driver.find_element("tag name", "body").text[:300]
                raise AssertionError(f"timed out waiting for {what or condition!r} on {self.driver.current_url}:"
                                     f" {page!r}")
            time.sleep(0.05)

    def login(self, user: str, password: str | None = None) -> None:
        """
        Log in through the login form as C{user} (with their password by default).
        """
        self.driver.delete_all_cookies()
        self.open("/login")
        self.find("input[name=username]").send_keys(user)
        self.find("input[name=password]").send_keys(password if password is not None else
                                                    self.harness.users[user])
        self.find("form button[type=submit]").click()

    @contextmanager
    def phoneSized(self) -> Iterator[None]:
        """
        The window of a phone (390 x 844 CSS pixels) for the block.
        """
        size = self.driver.get_window_size()
        self.driver.set_window_size(390, 844)
        try:
            yield
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def screenshot(self, name: str) -> str:
        """
        Save the page as C{NAME.png}: in C{docs/screenshots/} (checked in)
        when the environment says C{MAILSUITE_SCREENSHOTS=docs}, else in
        this session's temporary folder, so that a test run leaves the
        checkout as it was.  Return the path.
        """
        folder = SCREENSHOTS if os.environ.get("MAILSUITE_SCREENSHOTS") == "docs" else self.profile + "-shots"
        os.makedirs(folder, exist_ok=True)
        path = os.path.abspath(os.path.join(folder, name + ".png"))
        self.driver.save_screenshot(path)
        return path


_sessions: dict[str, BrowserSession] = {}


def sharedSession(module: str) -> BrowserSession:
    """
    The L{BrowserSession} of test module C{module}, started on first use,
    closed when the next module's starts or the process exits.
    """
    session = _sessions.get(module)
    if session is None:
        for other in list(_sessions):          # one browser at a time: the previous module's is done
            _sessions.pop(other).close()
        session = _sessions[module] = BrowserSession()
    return session


def _closeAll() -> None:
    for module in list(_sessions):
        _sessions.pop(module).close()


atexit.register(_closeAll)
