# -*- test-case-name: tests.test_benchmarks -*-
"""
The servers a benchmark run measures: our suite and the anchors, each
started in a temporary directory on free loopback ports below 32768, and
stopped by the PID this module started, never by name.

Anchors (each optional; L{missingAnchors} says how to get one):

  - C{smtp-sink}: Postfix's SMTP sink (C, discards every message): the
    protocol-handling upper bound on this machine;
  - C{twisted}: Twisted's own mail service (C{anchors/twistedmail.tac}: the
    stock ESMTP/POP3 and Maildir code with its Python 3 str/bytes bugs
    fixed, no fsync);
  - C{aiosmtpd}: aiosmtpd + the standard library's Maildir (fsync per
    message; C{anchors/aiosmtpdmaildir.py});
  - C{dovecot}: Dovecot's POP3 on the same Maildirs as ours;
  - C{ngircd}: an IRC server, for chat fan-out and idle connections.
"""
from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable

from common import LOOPBACK, freePort, log

from twisted_mail_suite.testing import configfile
from twisted_mail_suite.testing.process import SuiteProcess

HERE = os.path.dirname(os.path.abspath(__file__))
ANCHORS = os.path.join(HERE, "anchors")
PASSWORD = "pw"
DOMAIN = "example.com"


def _sbin(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None)


def twistdCommand() -> list[str]:
    """
    twistd of the interpreter running us (the venv with our plugin).
    """
    beside = os.path.join(os.path.dirname(sys.executable), "twistd")
    if os.access(beside, os.X_OK):
        return [beside]
    return [sys.executable, "-c", "import sys; from twisted.scripts.twistd import run; sys.exit(run())"]


# name -> (is it here?, how to get it)
ANCHOR_CHECKS: dict[str, tuple[Callable[[], bool], str]] = {
    "smtp-sink": (lambda: _sbin("smtp-sink") is not None,
                  "Debian: apt-get install postfix   (provides smtp-sink and smtp-source)"),
    "twisted": (lambda: importlib.util.find_spec("twisted.mail") is not None,
                "PyPI: pip install Twisted   (twisted.mail)"),
    "aiosmtpd": (lambda: importlib.util.find_spec("aiosmtpd") is not None,
                 f"PyPI: {sys.executable} -m pip install aiosmtpd"),
    "dovecot": (lambda: _sbin("dovecot") is not None and any(
        os.access(os.path.join(d, "pop3"), os.X_OK) for d in ("/usr/lib/dovecot", "/usr/libexec/dovecot")),
        "Debian: apt-get install dovecot-pop3d"),
    "ngircd": (lambda: _sbin("ngircd") is not None, "Debian: apt-get install ngircd"),
}


def dovecotServes(protocol: str) -> bool:
    """
    Is Dovecot here with its C{protocol} server (C{pop3}, C{imap})?
    """
    return _sbin("dovecot") is not None and any(
        os.access(os.path.join(d, protocol), os.X_OK) for d in ("/usr/lib/dovecot", "/usr/libexec/dovecot"))


def missingAnchors() -> dict[str, str]:
    """
    The anchors not installed here, each with how to install it.
    """
    return {name: hint for name, (present, hint) in ANCHOR_CHECKS.items() if not present()}


def versions() -> dict[str, str]:
    """
    Versions of the software measured (what is installed).
    """
    found = {"python": sys.version.split()[0]}

    def run(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return ""

    try:
        import twisted
        found["twisted"] = twisted.__version__
    except ImportError:
        pass
    try:
        from importlib.metadata import version
        found["aiosmtpd"] = version("aiosmtpd")
    except Exception:
        pass
    if _sbin("dovecot"):
        found["dovecot"] = run([_sbin("dovecot") or "", "--version"]).split()[0]
    if _sbin("ngircd"):
        found["ngircd"] = run([_sbin("ngircd") or "", "--version"]).split("-")[0].replace("ngIRCd ", "")
    if _sbin("postconf"):
        found["postfix"] = run([_sbin("postconf") or "", "-d", "mail_version"]).split("=")[-1].strip()
    return {k: v for k, v in found.items() if v}


class Server:
    """
    One process we started: its name, the ports per role, its PID.
    """

    running: list[Server] = []

    def __init__(self, name: str, command: list[str], ports: dict[str, int], scratch: str,
                 env: dict | None = None, cwd: str | None = None) -> None:
        self.name, self.ports, self.scratch = name, ports, scratch
        self.logPath = os.path.join(scratch, f"{name}.out")
        with open(self.logPath, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env, cwd=cwd or scratch)
        self.pid = self.process.pid
        Server.running.append(self)

    def waitReady(self, timeout: float = 30.0) -> None:
        """
        Wait until every port accepts a connection and sends its first line.
        """
        deadline = time.monotonic() + timeout
        for port in self.ports.values():
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                       f"see {self.logPath}:\n{self.tail()}")
                try:
                    with socket.create_connection((LOOPBACK, port), timeout=2) as s:
                        s.settimeout(5)
                        if s.recv(512):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}: nothing answers on {port}:\n{self.tail()}")
                time.sleep(0.2)

    def tail(self) -> str:
        try:
            with open(self.logPath, errors="replace") as f:
                return "".join(f.readlines()[-8:])
        except OSError:
            return ""

    def stop(self) -> None:
        """
        SIGTERM to our PID, SIGKILL to the same PID after 15 s.
        """
        if self in Server.running:
            Server.running.remove(self)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    @classmethod
    def stopAll(cls) -> None:
        for server in list(cls.running):
            server.stop()
        del cls.running[:]


def scratchDir(parent: str, name: str) -> str:
    path = os.path.join(parent, name)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)    # Dovecot's mail processes run as another user
    return path


def makeMaildirs(root: str, users: list[str]) -> None:
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    for user in users:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, user, sub), exist_ok=True)


# Limits raised so that the load generator is never refused or throttled
# (the chat flood throttle would otherwise kick a 50 lines/s sender); the
# listen backlog is 1024 rather than 50, for the 10,000-client connect
# storm.  fsync stays on.
UNLIMITED = {"max_connections": 0, "max_connections_per_ip": 0}   # 0: none (the process budget still applies)
OURS_SECTIONS = {
    "allow_plaintext_auth": True,
    "auth": {"max_concurrent_checks": 1000},     # every user of a run logs in at once from loopback
    "chat": {"idle_timeout": 3600, "lines_per_second": 1000000, "burst": 1000000},
}


# Every server stores the benchmark users in our default scheme (bcrypt,
# cost 10): ours verifies every login at that cost whatever the stored
# scheme (equal cost, issue 12), so the anchors must pay it too.
USERS_SCHEME = "BLF-CRYPT"


def writeUsers(path: str, users: list[str]) -> None:
    configfile.writeUsers(path, {user: PASSWORD for user in users}, USERS_SCHEME)


def startOurs(parent: str, roles: tuple[str, ...], users: list[str], name: str = "ours",
              environment: dict[str, str] | None = None,
              seed: Callable[[str], None] | None = None,
              more: dict[str, Any] | None = None) -> SuiteProcess:
    """
    C{twistd -n mailsuite --config <generated tap.yaml>} through the suite's
    own launcher; C{environment} is added to ours (a variant under test),
    C{seed(mailRoot)} fills the Maildirs before the server starts, C{more}
    adds config sections (the relay's).
    """
    scratch = scratchDir(parent, name)
    sections: dict = {key: dict(value) if isinstance(value, dict) else value
                      for key, value in {**OURS_SECTIONS, **(more or {})}.items()}
    for role in roles:
        listen = [f"tcp:{freePort()}:interface={LOOPBACK}:backlog=1024"]
        sections[role] = {**sections.get(role, {}), **UNLIMITED, "listen": listen}
    sections["users_file"] = os.path.join(scratch, "users.passwd")
    raw = configfile.suiteConfig(os.path.join(scratch, "data"), hostname="bench.example.com",
                                 domains=[DOMAIN], roles=(), sections=sections)
    config = configfile.writeConfig(os.path.join(scratch, "tap.yaml"), raw)
    writeUsers(sections["users_file"], users)
    makeMaildirs(os.path.join(scratch, "data", "mail"), users)
    if seed is not None:
        seed(os.path.join(scratch, "data", "mail"))
    server = SuiteProcess(config, env=environment, arguments=["-l", "twistd.log"], name=name)
    server.start()
    Server.running.append(server)     # type: ignore[arg-type]
    return server


def startTwisted(parent: str, roles: tuple[str, ...], users: list[str], mailRoot: str | None = None,
                 name: str = "twisted") -> Server:
    scratch = scratchDir(parent, name)
    ports = {role: freePort() for role in roles}
    endpoint = {role: f"tcp:{ports[role]}:interface={LOOPBACK}" if role in ports else "none"
                for role in ("smtp", "pop3")}
    env = dict(os.environ, ANCHOR_ROOT=mailRoot or os.path.join(scratch, "mail"), ANCHOR_DOMAIN=DOMAIN,
               ANCHOR_SMTP=endpoint["smtp"], ANCHOR_POP3=endpoint["pop3"],
               ANCHOR_USERS=",".join(f"{u}={PASSWORD}" for u in users))
    command = twistdCommand() + ["-n", "--pidfile=", "-l", os.path.join(scratch, "twistd.log"),
                                 "-y", os.path.join(ANCHORS, "twistedmail.tac")]
    server = Server(name, command, ports, scratch, env=env)
    server.waitReady()
    return server


def startAiosmtpd(parent: str, name: str = "aiosmtpd") -> Server:
    scratch = scratchDir(parent, name)
    port = freePort()
    server = Server(name, [sys.executable, os.path.join(ANCHORS, "aiosmtpdmaildir.py"), "--port", str(port),
                           "--maildir", os.path.join(scratch, "Maildir")], {"smtp": port}, scratch)
    server.waitReady()
    return server


def startSmtpSink(parent: str, name: str = "smtp-sink") -> Server:
    scratch = scratchDir(parent, name)
    port = freePort()
    asUser = ["-u", "nobody"] if os.geteuid() == 0 else []
    server = Server(name, [_sbin("smtp-sink") or "smtp-sink", *asUser, f"{LOOPBACK}:{port}", "1024"],
                    {"smtp": port}, scratch)
    server.waitReady()
    return server


def startDovecot(parent: str, mailRoot: str, users: list[str], name: str = "dovecot",
                 protocol: str = "pop3") -> Server:
    """
    Dovecot POP3 (or C{protocol} C{imap}) over C{mailRoot}/<user> Maildirs,
    passwd-file users, defaults otherwise (a login process per connection,
    mail_fsync=optimized).  As root, mail is accessed as nobody (the
    Maildirs are chowned to it).
    """
    scratch = scratchDir(parent, name)
    port = freePort()
    if os.geteuid() == 0:
        account = pwd.getpwnam("nobody")
        group = grp.getgrgid(account.pw_gid).gr_name
        for top, dirs, files in os.walk(mailRoot):
            for entry in [top] + [os.path.join(top, n) for n in dirs + files]:
                os.chown(entry, account.pw_uid, account.pw_gid)
        identity, unprivileged = f"uid=nobody gid={group}", ""
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        identity = f"uid={os.getuid()} gid={os.getgid()}"
        unprivileged = (f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                        "service anvil {\n  chroot =\n}\n")
    writeUsers(os.path.join(scratch, "users"), users)      # Dovecot reads the same passwd-file format
    config = os.path.join(scratch, "dovecot.conf")
    with open(config, "w") as f:
        f.write(f"""\
# generated by benchmarks/run.py
base_dir = {scratch}/run
state_dir = {scratch}/state
log_path = {scratch}/dovecot.log
protocols = {protocol}
listen = {LOOPBACK}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{mailRoot}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {scratch}/users
}}
userdb {{
  driver = static
  args = {identity} home={mailRoot}/%u
}}
service {protocol}-login {{
  inet_listener {protocol} {{
    address = {LOOPBACK}
    port = {port}
  }}
  inet_listener {protocol}s {{
    port = 0
  }}{"" if os.geteuid() == 0 else chr(10) + "  chroot ="}
}}
{unprivileged}""")
    server = Server(name, [_sbin("dovecot") or "dovecot", "-F", "-c", config], {protocol: port}, scratch)
    server.waitReady()
    return server


def startNgircd(parent: str, name: str = "ngircd") -> Server:
    scratch = scratchDir(parent, name)
    port = freePort()
    config = os.path.join(scratch, "ngircd.conf")
    with open(config, "w") as f:
        f.write(f"""\
# generated by benchmarks/run.py; the operator lets the sender bypass flood throttling (mode +F)
[Global]
\tName = bench.irc.invalid
\tInfo = benchmark anchor
\tListen = {LOOPBACK}
\tPorts = {port}
\tMotdPhrase = bench
\tPidFile = {scratch}/ngircd.pid
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = 16
\tPingTimeout = 600
\tPongTimeout = 300
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tOperCanUseMode = yes
[Operator]
\tName = bench
\tPassword = bench
""")
    server = Server(name, [_sbin("ngircd") or "ngircd", "-n", "-f", config], {"chat": port}, scratch)
    deadline = time.monotonic() + 20
    while True:    # ngircd sends nothing before the client speaks: wait for the port only
        try:
            socket.create_connection((LOOPBACK, port), timeout=2).close()
            break
        except OSError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ngircd did not start:\n{server.tail()}") from None
            time.sleep(0.2)
    return server


def seedMaildir(folder: str, count: int, size: int, tag: str) -> None:
    """
    C{count} messages of C{size} body bytes in C{folder}/new, LF line ends
    as Maildir stores them.
    """
    line = b"abcdefghij" * 7 + b"0123456\n"
    body = line * (size // len(line)) + b"z" * (size % len(line))
    for i in range(count):
        header = (f"From: <seed@bench.invalid>\nTo: <{tag}@{DOMAIN}>\nSubject: seed {i}\n"
                  f"Message-ID: <seed-{tag}-{i}@bench.invalid>\n\n").encode()
        unique = f"{int(time.time())}.M{i:06d}P{os.getpid()}Q{i}.bench"
        with open(os.path.join(folder, "new", unique), "wb") as f:
            f.write(header + body)


def logStarted(server: Server) -> None:
    log(f"run: started {server.name} (pid {server.pid}) on "
        + ", ".join(f"{role} {port}" for role, port in server.ports.items()))
