# -*- test-case-name: tests.test_admin -*-
"""
C{mailsuite-admin}: users add|passwd|del|list and check-config.  Passwords
come from a getpass prompt or C{--password-stdin}, never from argv.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Sequence, TextIO

import yaml

from .identity import hashing
from .config import configToDict, loadConfig
from .identity.passwd import PasswdFile, addUser, deleteUser, setUserPassword, validUserName
from .errors import ConfigError


def _readPassword(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise SystemExit("mailsuite-admin: passwords do not match")
    if not password:
        raise SystemExit("mailsuite-admin: empty password")
    return password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailsuite-admin", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default="./tap.yaml", help="configuration file (default ./tap.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)
    users = commands.add_parser("users", help="manage the users file")
    userCommands = users.add_subparsers(dest="action", required=True)
    for action in ("add", "passwd"):
        sub = userCommands.add_parser(action)
        sub.add_argument("name")
        sub.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        sub.add_argument("--scheme", default=None, choices=hashing.SCHEMES,
                         help="password scheme (default: the config's auth.default_scheme)")
        sub.add_argument("--config", default=argparse.SUPPRESS)
    for action in ("del", "list"):
        sub = userCommands.add_parser(action)
        if action == "del":
            sub.add_argument("name")
        sub.add_argument("--config", default=argparse.SUPPRESS)
    check = commands.add_parser("check-config", help="print the effective configuration")
    check.add_argument("--config", default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    args = _parser().parse_args(argv)
    try:
        config = loadConfig(args.config)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    if args.command == "check-config":
        yaml.safe_dump(configToDict(config), stdout, sort_keys=False, default_flow_style=False)
        return 0
    path = config.usersFile
    if args.action == "list":
        for name in PasswdFile(path).names():
            stdout.write(name + "\n")
        return 0
    name = args.name.lower()
    if not validUserName(name):
        sys.stderr.write(f"mailsuite-admin: bad user name {args.name!r} "
                         "(1-32 letters, digits, '.', '_', '-', '+')\n")
        return 1
    if args.action == "del":
        try:
            if not deleteUser(path, name):
                return _missing(name)
        except OSError as e:
            sys.stderr.write(f"mailsuite-admin: {e}\n")
            return 1
        stdout.write(f"deleted {name}\n")
        return 0
    exists = PasswdFile(path).lookup(name) is not None     # early answer; decided again under the lock
    if args.action == "add" and exists:
        return _exists(name)
    if args.action == "passwd" and not exists:
        return _missing(name)
    password = _readPassword(args, stdin)
    if len(password.encode("utf-8")) > config.auth.max_password_length:
        sys.stderr.write(f"mailsuite-admin: password longer than auth.max_password_length "
                         f"({config.auth.max_password_length} bytes): it could never log in\n")
        return 1
    stored = hashing.hashPassword(password, args.scheme or config.auth.default_scheme)
    try:
        if args.action == "add":
            if not addUser(path, name, stored):
                return _exists(name)
        elif not setUserPassword(path, name, stored, create=False):
            return _missing(name)
    except OSError as e:
        sys.stderr.write(f"mailsuite-admin: {e}\n")
        return 1
    stdout.write(f"{'added' if args.action == 'add' else 'password set for'} {name}\n")
    return 0


def _exists(name: str) -> int:
    sys.stderr.write(f"mailsuite-admin: user {name} exists (use users passwd)\n")
    return 1


def _missing(name: str) -> int:
    sys.stderr.write(f"mailsuite-admin: no user {name}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
