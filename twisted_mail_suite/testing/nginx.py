# -*- test-case-name: tests.integration.test_nginx -*-
"""
A private nginx mail proxy for tests and benchmarks: its own prefix in a
temporary folder, its own config (L{mailConfig}: the C{mail {}} block in
front of a suite's auth_http endpoint), C{daemon off} so the process we
start is the master, stopped by its PID.  Debian's packages: C{nginx} and
C{libnginx-mod-mail} (L{missing} says what is not installed).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Sequence

__all__ = ["MODULE_FOLDERS", "MailServer", "NginxMail", "freePort", "mailConfig", "missing"]

MODULE_FOLDERS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/lib64/nginx/modules")
MODULE = "ngx_mail_module.so"
# What our servers offer, for nginx to answer EHLO/CAPA/CAPABILITY with before login
# (nginx adds STARTTLS/STLS and the AUTH mechanisms of its *_auth directives itself).
SMTP_CAPABILITIES = ('"SIZE 26214400"', "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING", "SMTPUTF8")
POP3_CAPABILITIES = ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER")
IMAP_CAPABILITIES = ("IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE",
                     "UNSELECT", "UIDPLUS", "MOVE", "SPECIAL-USE", "CHILDREN")


def nginxBinary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def mailModule() -> str | None:
    """
    Where the distribution put the mail module (Debian: /usr/lib/nginx/modules).
    """
    for folder in MODULE_FOLDERS:
        path = os.path.join(folder, MODULE)
        if os.path.exists(path):
            return path
    return None


def missing() -> str | None:
    """
    Why a private nginx mail proxy cannot run here, or L{None}.
    """
    if nginxBinary() is None:
        return "nginx is not installed (Debian: apt-get install nginx libnginx-mod-mail)"
    if mailModule() is None:
        return f"nginx's mail module ({MODULE}) is not installed (Debian: libnginx-mod-mail)"
    return None


def freePort(host: str = "127.0.0.1") -> int:
    """
    A TCP port free on C{host} now (the kernel's choice).
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class MailServer:
    """
    One C{server {}} of the C{mail {}} block: nginx listens on C{port} for
    C{protocol} (smtp, pop3, imap); C{auth} is its *_auth directive's
    value (C{none} for MX); C{extra}, more directives.
    """

    port: int
    protocol: str
    auth: str = "plain"
    host: str = "127.0.0.1"
    extra: str = ""          # more directives for this server ("proxy_buffer 64k;")


def mailConfig(prefix: str, authPort: int, secret: str, servers: Sequence[MailServer],
               extra: str = "", serverName: str = "mail.example.test") -> str:
    """
    An nginx.conf for a private mail proxy in C{prefix}, asking the
    auth_http endpoint on 127.0.0.1:C{authPort} with C{secret}.
    """
    blocks = []
    for server in servers:
        listen = f"[{server.host}]:{server.port}" if ":" in server.host else f"{server.host}:{server.port}"
        blocks.append(f"    server {{\n        listen {listen};\n        protocol {server.protocol};\n"
                      f"        {server.protocol}_auth {server.auth};\n{server.extra}    }}\n")
    return (
        f"load_module {mailModule()};\n"
        "daemon off;\nmaster_process on;\nworker_processes 1;\n"
        f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n"
        "events { worker_connections 512; }\n"
        "mail {\n"
        f"    server_name {serverName};\n"
        f"    auth_http 127.0.0.1:{authPort}/auth;\n"
        f'    auth_http_header X-Auth-Key "{secret}";\n'
        "    proxy_pass_error_message on;\n"
        "    xclient on;\n"
        f"    smtp_capabilities {' '.join(SMTP_CAPABILITIES)};\n"
        f"    pop3_capabilities {' '.join(POP3_CAPABILITIES)};\n"
        f"    imap_capabilities {' '.join(IMAP_CAPABILITIES)};\n"
        f"{extra}"
        + "".join(blocks) +
        "}\n")


class NginxMail:
    """
    One private nginx process running C{config} (from L{mailConfig}) in
    C{prefix}.
    """

    def __init__(self, prefix: str, config: str, ports: Sequence[tuple[str, int]]) -> None:
        self.prefix = prefix
        self.config = config
        self.ports = list(ports)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def errorLog(self) -> str:
        return os.path.join(self.prefix, "error.log")

    def log(self) -> str:
        try:
            with open(self.errorLog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout: float = 10.0) -> NginxMail:
        """
        Write the config, start nginx (the master stays our child) and
        return once every port accepts connections.

        @raise RuntimeError: nginx exited or did not listen in time (with
            its error log).
        """
        binary = nginxBinary()
        assert binary is not None
        os.makedirs(self.prefix, exist_ok=True)
        path = os.path.join(self.prefix, "nginx.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.config)
        self.process = subprocess.Popen([binary, "-p", self.prefix, "-e", self.errorLog, "-c", path],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        waiting = list(self.ports)
        while waiting:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode("utf-8", "replace") if self.process.stderr else ""
                raise RuntimeError(f"nginx exited ({self.process.returncode}): {stderr}{self.log()}")
            host, port = waiting[0]
            try:
                socket.create_connection((host, port), timeout=1).close()
                waiting.pop(0)
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not listen on {host}:{port}: {self.log()}") from None
                time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """
        Stop the master we started (SIGTERM: nginx's fast shutdown), by its
        PID; SIGKILL if it lingers.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)
        if process.stderr is not None:
            process.stderr.close()
