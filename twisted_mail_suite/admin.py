# -*- test-case-name: tests.test_admin -*-
"""
C{mailsuite-admin}: users add|passwd|del|list, check-config, queue
list|show|flush|delete|hold|release, cluster status, dkim generate, db migrate,
store copy --from maildir|postgres --to postgres|maildir.  Passwords come from a
getpass prompt or C{--password-stdin}, never from argv.
"""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
import time
from typing import Sequence, TextIO

import yaml

from .identity import hashing
from .config import configToDict, loadConfig
from .identity.operations import FileBackend, UserError, UserOperations
from .errors import ConfigError
from .relay.control import ControlError, request


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
    queue = commands.add_parser("queue", help="the outbound queue of the running server")
    queueCommands = queue.add_subparsers(dest="action", required=True)
    for action, takesID in (("list", None), ("show", True), ("flush", False), ("delete", True), ("hold", True),
                            ("release", True)):
        sub = queueCommands.add_parser(action)
        if takesID is not None:
            sub.add_argument("id", nargs=None if takesID else "?")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.add_argument("--config", default=argparse.SUPPRESS)
    clusterParser = commands.add_parser("cluster", help="the processes and shared services of the cluster")
    clusterCommands = clusterParser.add_subparsers(dest="action", required=True)
    status = clusterCommands.add_parser("status", help="nodes, workers, Redis and PostgreSQL health, queues")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--config", default=argparse.SUPPRESS)
    dkimParser = commands.add_parser("dkim", help="DKIM keys")
    dkimCommands = dkimParser.add_subparsers(dest="action", required=True)
    generate = dkimCommands.add_parser("generate", help="write a new key (0600) and print its DNS TXT record")
    generate.add_argument("domain")
    generate.add_argument("--selector", required=True)
    generate.add_argument("--key-file", help="default: <data_dir>/dkim/<domain>.<selector>.pem")
    generate.add_argument("--algorithm", choices=("rsa", "ed25519"), default="rsa")
    generate.add_argument("--bits", type=int, default=2048)
    generate.add_argument("--config", default=argparse.SUPPRESS)
    db = commands.add_parser("db", help="the PostgreSQL database of cluster.postgres")
    migrateParser = db.add_subparsers(dest="action", required=True).add_parser(
        "migrate", help="create the schema or bring it up to date (idempotent)")
    migrateParser.add_argument("--config", default=argparse.SUPPRESS)
    storeParser = commands.add_parser("store", help="the mail store")
    copy = storeParser.add_subparsers(dest="action", required=True).add_parser(
        "copy", help="copy every user's folders, mail and subscriptions between Maildir and PostgreSQL")
    copy.add_argument("--from", dest="source", choices=("maildir", "postgres"), required=True)
    copy.add_argument("--to", dest="target", choices=("maildir", "postgres"), required=True)
    copy.add_argument("--config", default=argparse.SUPPRESS)
    return parser


def _database(config: object, args: argparse.Namespace, stdout: TextIO) -> int:
    from .store.postgres import tools

    url = config.cluster.postgres  # type: ignore[attr-defined]
    if not url:
        sys.stderr.write("mailsuite-admin: cluster.postgres is not set in the configuration\n")
        return 1
    try:
        if args.command == "db":
            applied = tools.migrateDatabase(url)
            stdout.write(f"applied migrations {', '.join(map(str, applied))}\n" if applied
                         else "the schema is up to date\n")
            return 0
        if args.source == args.target:
            sys.stderr.write("mailsuite-admin: --from and --to must differ\n")
            return 1
        def report(line: str) -> None:
            stdout.write(line + "\n")

        mailDir = config.mailDir  # type: ignore[attr-defined]
        copied, skipped = (tools.copyToPostgres(mailDir, url, report) if args.target == "postgres"
                           else tools.copyToMaildir(url, mailDir, report))
    except Exception as e:       # psycopg's errors, the schema's, the disk's
        sys.stderr.write(f"mailsuite-admin: {e}\n")
        return 1
    stdout.write(f"copied {copied} messages; {len(skipped)} users skipped\n")
    return 1 if skipped else 0


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "now"


def _printEntry(entry: dict, stdout: TextIO) -> None:
    held = " (held)" if entry["held"] else " (being delivered)" if entry.get("active") else ""
    where = f"  [{entry['queue']}]" if "queue" in entry else ""
    stdout.write(f"{entry['id']}  {entry['size']:>9}  {_when(entry['created'])}  <{entry['sender']}>{held}{where}\n")
    stdout.write(f"    attempts: {entry['attempts']}, next attempt: {_when(entry['next_attempt'])}"
                 + (f", last error: {entry['last_error']}" if entry["last_error"] else "") + "\n")
    for recipient in entry["recipients"]:
        reply = f"  ({recipient['reply']})" if recipient["reply"] else ""
        stdout.write(f"    <{recipient['address']}>  {recipient['status']}{reply}\n")


def _offline(config: object, action: str, queueID: str | None) -> object:
    """
    No server answers: read (or change) the queue files directly.
    """
    from .relay.queue import DiskQueue
    from .store.maildir import runSynchronously

    class WallClock:
        seconds = staticmethod(time.time)

    queue = DiskQueue(config.queueDir, WallClock(), runSynchronously)  # type: ignore[attr-defined]
    queue.load()
    if action == "list":
        return [entry.describe() for entry in queue.entries()]
    if action == "flush":
        raise ControlError("the server is not running: nothing to flush")
    entry = queue.get(queueID or "")
    if entry is None:
        raise ControlError(f"no message {queueID} in the queue")
    if action == "show":
        description = entry.describe()
        description["headers"] = queue.readHead(entry).decode("utf-8", "replace")
        return description
    if action == "delete":
        queue.retire(entry)
    else:
        queue.setHeld(entry, action == "hold")
    return {action: entry.queueID}


def _ask(config: object, action: str, queueID: str | None) -> object:
    """
    The running server's answer through its control socket, else the
    queue files read directly.
    """
    try:
        return request(os.path.join(config.queueDir, "control.sock"), action, queueID)  # type: ignore[attr-defined]
    except OSError:
        return _offline(config, action, queueID)


def _listQueue(config: object, dataDir: str) -> tuple[list[dict], bool]:
    """
    The entries of the queue kept under C{dataDir} (C{data_dir}, or a
    worker's C{data_dir/worker-N}), and whether a server answered.
    """
    changed = dataclasses.replace(config, data_dir=dataDir)  # type: ignore[type-var]
    try:
        return request(os.path.join(changed.queueDir, "control.sock"), "list"), True
    except OSError:
        return _offline(changed, "list", None), False  # type: ignore[return-value]


def _places(config: object) -> list[tuple[str, str]]:
    """
    This node's queues as C{(label, data_dir)}: C{data_dir/queue} and each
    worker's C{data_dir/worker-N/queue} (L{twisted_mail_suite.workers});
    C{("main", data_dir)} when there is none yet.
    """
    dataDir = config.data_dir  # type: ignore[attr-defined]
    places = [("main", dataDir)] if os.path.isdir(config.queueDir) else []  # type: ignore[attr-defined]
    try:
        names = os.listdir(dataDir)
    except OSError:
        names = []
    workers = sorted(int(name[7:]) for name in names if name.startswith("worker-") and name[7:].isdigit())
    places += [(f"worker {n}", os.path.join(dataDir, f"worker-{n}")) for n in workers
               if os.path.isdir(os.path.join(dataDir, f"worker-{n}", "queue"))]
    return places or [("main", dataDir)]


def _askEvery(config: object, action: str, queueID: str | None) -> object:
    """
    L{_ask} over every queue of this node (with C{workers: N}, each worker
    keeps its own): C{list} joins them (each entry says its C{queue} when
    there are several), a command naming a message goes to the queue that
    holds it, C{flush} without one to every running server.
    """
    places = _places(config)
    if len(places) == 1:
        return _ask(dataclasses.replace(config, data_dir=places[0][1]), action, queueID)  # type: ignore[type-var]
    results, errors = [], []
    for label, place in places:
        try:
            result = _ask(dataclasses.replace(config, data_dir=place), action, queueID)  # type: ignore[type-var]
        except ControlError as e:
            errors.append(str(e))
            continue
        if action == "list":
            results.extend({**entry, "queue": label} for entry in result)  # type: ignore[union-attr]
        elif action == "flush" and not queueID:
            results.append(result)
        else:
            return result
    if action == "list":
        return results
    if results:
        return {"flushed": [queued for result in results for queued in result["flushed"]]}  # type: ignore[index]
    raise ControlError(f"no message {queueID} in the queue" if queueID else errors[0])


def _queue(config: object, args: argparse.Namespace, stdout: TextIO) -> int:
    queueID = getattr(args, "id", None)
    try:
        result = _askEvery(config, args.action, queueID)
    except ControlError as e:
        sys.stderr.write(f"mailsuite-admin: {e}\n")
        return 1
    if args.json:
        json.dump(result, stdout, indent=2)
        stdout.write("\n")
    elif args.action == "list":
        for entry in result:  # type: ignore[union-attr]
            _printEntry(entry, stdout)
        stdout.write(f"-- {len(result)} message{'' if len(result) == 1 else 's'} in the queue\n")  # type: ignore
    elif args.action == "show":
        _printEntry(result, stdout)  # type: ignore[arg-type]
        stdout.write("\n" + result["headers"])  # type: ignore[index]
    else:
        for key, value in result.items():  # type: ignore[union-attr]
            stdout.write(f"{key}: {' '.join(value) if isinstance(value, list) else value}\n")
    return 0


def _queues(config: object) -> list[dict]:
    """
    Each queue of this node (L{_places}) with its entries, for C{cluster
    status}.
    """
    found = []
    for label, place in _places(config):
        if not os.path.isdir(os.path.join(place, "queue")):
            continue
        try:
            entries, live = _listQueue(config, place)
        except (ControlError, OSError) as e:
            found.append({"queue": label, "path": place, "error": str(e)})
            continue
        found.append({"queue": label, "path": place, "server_answered": live, "messages": len(entries),
                      "held": sum(1 for entry in entries if entry["held"]), "entries": entries})
    return found


def _clusterStatus(config: object, asJSON: bool, stdout: TextIO) -> int:
    """
    C{cluster status}: the processes Redis knows by their heartbeats
    (L{twisted_mail_suite.cluster.members}), Redis's and PostgreSQL's
    health, and this node's queues.  Exit code 1 when a configured shared
    service does not answer.
    """
    from .cluster.shared import nodeName
    from .cluster.status import postgresStatus, redisStatus

    cluster = config.cluster  # type: ignore[attr-defined]
    redis = {"configured": False, "reason": "cluster.redis is not set"} if cluster.redis is None \
        else {"configured": True, **redisStatus(cluster.redisAddress)}
    postgres = postgresStatus(cluster.postgres)
    report = {"node": nodeName(cluster.node), "redis": redis, "postgres": postgres, "queues": _queues(config)}
    failed = (redis["configured"] and not redis["ok"]) or (postgres["configured"] and not postgres["ok"])
    if asJSON:
        json.dump(report, stdout, indent=2)
        stdout.write("\n")
        return 1 if failed else 0
    stdout.write(f"this node: {report['node']}\n")
    for name, health in (("Redis", redis), ("PostgreSQL", postgres)):
        if not health["configured"]:
            stdout.write(f"{name}: not configured ({health['reason']})\n")
        elif health["ok"]:
            stdout.write(f"{name}: up, version {health['version']}, PING {health['ping_ms']:.2f} ms"
                         + (f" ({health['address']})" if "address" in health else "") + "\n")
        else:
            stdout.write(f"{name}: DOWN" + (f" ({health['address']})" if "address" in health else "")
                         + f": {health['error']}\n")
    members = redis.get("members", [])
    nodes = sorted({str(member.get("node")) for member in members})
    if redis.get("ok"):
        stdout.write(f"nodes: {len(nodes)}, processes: {len(members)}\n")
    for node in nodes:
        stdout.write(f"  node {node}\n")
        for member in (m for m in members if str(m.get("node")) == node):
            ports = ", ".join(f"{role} {'/'.join(map(str, found))}" for role, found in member.get("ports", {}).items()
                              if found)
            worker = f"worker {member['worker']}" if member.get("worker") else "single process"
            uptime = int(time.time() - float(member.get("started", time.time())))
            stdout.write(f"    {worker}  pid {member.get('pid')}  up {uptime // 3600}:{uptime // 60 % 60:02d}:"
                         f"{uptime % 60:02d}  {ports or 'no ports yet'}  [{member.get('name')}]\n")
    stdout.write(f"queues on this node ({report['node']}):" + ("" if report["queues"] else " none") + "\n")
    for queue in report["queues"]:
        if "error" in queue:
            stdout.write(f"  {queue['queue']}: unreadable: {queue['error']}\n")
            continue
        source = "" if queue["server_answered"] else " (read from disk: no server answered)"
        stdout.write(f"  {queue['queue']}: {queue['messages']} message{'' if queue['messages'] == 1 else 's'}"
                     f", {queue['held']} held{source}\n")
    return 1 if failed else 0


def _dkimGenerate(config: object, args: argparse.Namespace, stdout: TextIO) -> int:
    from .relay.dkim import generateKey

    domain = args.domain.lower().rstrip(".")
    path = args.key_file or os.path.join(config.data_dir, "dkim", f"{domain}.{args.selector}.pem")  # type: ignore
    try:
        record = generateKey(path, args.algorithm, args.bits)
    except FileExistsError:
        sys.stderr.write(f"mailsuite-admin: {path} exists; not overwritten\n")
        return 1
    except ValueError as e:
        sys.stderr.write(f"mailsuite-admin: {e}\n")
        return 1
    chunks = " ".join(f'"{record[i:i + 250]}"' for i in range(0, len(record), 250))
    stdout.write(f"wrote {path} (mode 0600)\n\nPublish this DNS record:\n\n"
                 f"{args.selector}._domainkey.{domain}. IN TXT {chunks}\n\n"
                 f"and add to tap.yaml:\n\nrelay:\n  dkim:\n    {domain}: "
                 f"{{selector: {args.selector}, key_file: {path}}}\n")
    return 0


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
    if args.command == "queue":
        return _queue(config, args, stdout)
    if args.command == "cluster":
        return _clusterStatus(config, args.json, stdout)
    if args.command == "dkim":
        return _dkimGenerate(config, args, stdout)
    if args.command in ("db", "store"):
        return _database(config, args, stdout)
    return _users(config, args, stdin, stdout)


def _users(config: object, args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """
    C{users list|add|passwd|del}, through the operations the HTTP admin
    API shares (L{twisted_mail_suite.identity.operations}).
    """
    operations = UserOperations(FileBackend(config.usersFile), config.auth)  # type: ignore[attr-defined]
    if args.action == "list":
        for name in operations.names():
            stdout.write(name + "\n")
        return 0
    try:
        name = operations.checkName(args.name)
        if args.action == "del":
            operations.delete(name)
            stdout.write(f"deleted {name}\n")
            return 0
        exists = operations.exists(name)          # early answer; decided again under the lock
        if args.action == "add" and exists:
            raise UserError("exists", f"user {name} exists (use users passwd)")
        if args.action == "passwd" and not exists:
            raise UserError("missing", f"no user {name}")
        password = _readPassword(args, stdin)
        if args.action == "add":
            operations.add(name, password, args.scheme)
        else:
            operations.passwd(name, password, args.scheme)
    except UserError as e:
        sys.stderr.write(f"mailsuite-admin: {e.message}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"mailsuite-admin: {e}\n")
        return 1
    stdout.write(f"{'added' if args.action == 'add' else 'password set for'} {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
