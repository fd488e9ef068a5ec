# -*- test-case-name: tests.test_configfile -*-
"""
The one writer of suite configurations for tests, scripts and benchmarks:
the raw mapping (the shape of tap.yaml) with every protocol of the
registry listening on an ephemeral loopback port unless told otherwise,
the file, and the users file.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

from ..registry import PROTOCOLS, ProtocolRecord

__all__ = ["EPHEMERAL", "setListen", "suiteConfig", "writeConfig", "writeUsers", "prepareDirectory"]

EPHEMERAL = "tcp:0:interface=127.0.0.1"


def suiteConfig(dataDir: str, *, hostname: str = "mx.example.test",
                domains: Iterable[str] = ("example.test", "localhost"),
                listen: Iterable[str] = (EPHEMERAL,), roles: Iterable[str] | None = None,
                sections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """
    A configuration mapping: C{listen} for each of C{roles} (default: every
    protocol of the registry), no listener for the others, then
    C{sections} merged in (a mapping value is merged into the section, any
    other value replaces the key).  The listeners with a nested section
    (C{proxy.auth_http}, which needs its secret) listen only when named in
    C{roles}.
    """
    wanted = {r.role for r in PROTOCOLS if r.section is None} if roles is None else set(roles)
    raw: dict[str, Any] = {"hostname": hostname, "domains": list(domains), "data_dir": dataDir}
    for entry in PROTOCOLS:
        if entry.section is None or entry.role in wanted:
            setListen(raw, entry, list(listen) if entry.role in wanted else [])
    for key, value in (sections or {}).items():
        if isinstance(value, Mapping) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def setListen(raw: dict[str, Any], entry: ProtocolRecord, listen: list[str]) -> None:
    """
    Set the C{listen} list of C{entry}'s section in the raw mapping C{raw},
    making the sections on its dotted path (C{proxy.auth_http}).
    """
    node = raw
    for part in entry.sectionPath.split("."):
        node = node.setdefault(part, {})
    node["listen"] = listen


def writeConfig(path: str, raw: Mapping[str, Any]) -> str:
    """
    Write C{raw} as a tap.yaml at C{path} (a file, or a folder to hold
    C{tap.yaml}); return the file's path.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "tap.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# written by twisted_mail_suite.configfile\n")
        for key, value in raw.items():
            f.write(f"{key}: {json.dumps(value)}\n")     # JSON is YAML
    return path


def writeUsers(path: str, users: Mapping[str, str], scheme: str = "PLAIN") -> str:
    """
    Write a passwd-file with C{users} (name -> password) stored with
    C{scheme}; return its path.
    """
    from ..identity.hashing import hashPassword

    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for name, password in users.items():
            f.write(f"{name}:{hashPassword(password, scheme)}\n")
    return path


def prepareDirectory(workDir: str, users: Mapping[str, str], scheme: str = "PLAIN",
                     **options: Any) -> str:
    """
    A folder ready for C{twistd -n mailsuite --config workDir/tap.yaml}:
    C{data/} with a users file holding C{users}, and the tap.yaml of
    L{suiteConfig} (its C{options}) with C{data_dir: ./data}.

    @return: the config file's path.
    """
    dataDir = os.path.join(workDir, "data")
    os.makedirs(dataDir, exist_ok=True)
    writeUsers(os.path.join(dataDir, "users.passwd"), users, scheme)
    return writeConfig(os.path.join(workDir, "tap.yaml"), suiteConfig("./data", **options))
