# -*- test-case-name: tests.test_config -*-
"""
tap.yaml -> frozen dataclasses.  All validation and its error messages live
here.  Precedence: built-in defaults < the YAML file < overrides (the plugin's
command-line options), all validated the same way and before any port is bound.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import yaml

from .convert import boolean as _bool
from .convert import choice as _choice
from .convert import fail as _fail
from .convert import option as _opt
from .errors import ConfigError
from .clusterconfig import ClusterConfig, workersCount
from .httpconfig import HTTPConfig
from .proxyconfig import ProxyConfig
from .relayconfig import RelayConfig

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parseSize(value: object) -> int:
    """
    Parse C{25MB}, C{512k}, C{4KiB} or a plain integer into octets
    (binary multiples, as Postfix and Dovecot read them).

    @raise ValueError: if C{value} is not a size.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match is not None:
            return int(match.group(1)) * _UNITS[match.group(2).lower()]
    raise ValueError(value)


def _endpointFields(description: str) -> list[str]:
    """
    Split an endpoint string on the colons that are not escaped with a
    backslash (the endpoint syntax); escapes are kept as written.
    """
    fields, current, escaped = [], [], False
    for character in description:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            current.append(character)
            escaped = True
        elif character == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
    fields.append("".join(current))
    return fields


def checkEndpoint(description: str) -> None:
    """
    Check that C{description} parses as a server endpoint string, without
    binding anything.  C{ssl:} endpoints may omit their certificate options
    (the suite fills them in), so for them only the port is checked here;
    their other options are checked when the listener starts.

    @raise ValueError: with the parser's complaint.
    """
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor

    if not description or not isinstance(description, str):
        raise ValueError("empty endpoint")
    kind, *rest = _endpointFields(description)
    kind = kind.lower()
    if kind in ("tcp", "ssl", "tcp6"):
        positional = [field for field in rest if "=" not in field]
        named = dict(field.split("=", 1) for field in rest if "=" in field)
        port = positional[0] if positional else named.get("port")
        if port is None or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"bad port {port!r}")
        if kind == "ssl":
            return
    try:
        serverFromString(MemoryReactor(), description)
    except Exception as e:
        raise ValueError(str(e) or e.__class__.__name__) from e


# One converter per kind of value: (value, keyPath, source) -> value.



def _str(value: object, key: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, key, "a non-empty string", value)
    return value


def _optStr(value: object, key: str, source: str) -> str | None:
    return None if value is None else _str(value, key, source)




def _int(value: object, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(source, key, "a whole number >= 0", value)
    return value


def _seconds(value: object, key: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _fail(source, key, "a number of seconds >= 0", value)
    return float(value)


def _size(value: object, key: str, source: str) -> int:
    try:
        return parseSize(value)
    except ValueError:
        raise _fail(source, key, "a size like 25MB", value) from None


def _domains(value: object, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(d, str) and d for d in value):
        raise _fail(source, key, "a list of domain names", value)
    return tuple(d.lower().rstrip(".") for d in value)


def _endpoints(value: object, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(source, key, 'a list of endpoint strings like "tcp:2525"', value)
    for index, description in enumerate(value):
        if not isinstance(description, str):
            raise _fail(source, f"{key}[{index}]", 'an endpoint string like "tcp:2525"', description)
        try:
            checkEndpoint(description)
        except ValueError as e:
            raise ConfigError(source, f"{key}[{index}]",
                              f'expected an endpoint string like "tcp:2525", got "{description}" ({e})') from None
    return tuple(value)


def _aliases(value: object, key: str, source: str) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise _fail(source, key, "a mapping of alias: user (or list of users)", value)
    result = {}
    for alias, target in value.items():
        targets = [target] if isinstance(target, str) else target
        if not isinstance(alias, str) or not isinstance(targets, list) or not targets \
                or not all(isinstance(t, str) and t for t in targets):
            raise _fail(source, f"{key}.{alias}", "a user name or a list of user names", target)
        result[alias.lower()] = tuple(t.lower() for t in targets)
    return result






def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"section": cls})


@dataclass(frozen=True)
class TLSConfig:
    cert: str | None = _opt(_optStr, None)
    key: str | None = _opt(_optStr, None)
    starttls: bool = _opt(_bool, True)     # offer STARTTLS (SMTP) and STLS (POP3)


def _intBetween(low: int, high: int) -> Callable[[object, str, str], int]:
    def convert(value: object, key: str, source: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(source, key, f"a whole number from {low} to {high}", value)
        return value
    return convert


@dataclass(frozen=True)
class AuthConfig:
    """
    The one failed-login policy of all protocols, and how passwords are
    checked.
    """

    max_failures: int = _opt(_int, 10)                 # per address group in window (in-flight count) -> refuse
    max_failures_per_connection: int = _opt(_int, 3)   # then disconnect
    failure_delay: float = _opt(_seconds, 1.0)         # first failure; doubles each time
    max_delay: float = _opt(_seconds, 8.0)
    window: float = _opt(_seconds, 300.0)
    # Longer credentials fail unchecked, before any hashing (UTF-8 octets).
    # 1 KiB of password is far beyond any passphrase or password manager,
    # bounds SHA512-CRYPT (cost grows with length) to a few times a normal
    # check, and stays under libpass's own 4 KiB limit.
    max_username_length: int = _opt(_intBetween(1, 1024), 256)
    max_password_length: int = _opt(_intBetween(1, 4096), 1024)
    max_concurrent_checks: int = _opt(_intBetween(1, 10_000), 5)   # per address group at once; more wait their turn
    ipv4_prefix: int = _opt(_intBetween(0, 32), 32)     # addresses counted together (Dovecot: /32)
    ipv6_prefix: int = _opt(_intBetween(0, 128), 64)    # one /64 is one subscriber (Dovecot uses /48)
    hash_threads: int = _opt(_intBetween(1, 64), 2)     # the password-hashing pool (never the store's)
    # The scheme new users get (mailsuite-admin) and the cost every check
    # spends at least (unknown users and cheaply stored passwords alike).
    default_scheme: str = _opt(_choice("BLF-CRYPT", "ARGON2ID"), "BLF-CRYPT")


@dataclass(frozen=True)
class SMTPConfig:
    listen: tuple[str, ...] = _opt(_endpoints, ("tcp:2525:interface=127.0.0.1",))
    max_message_size: int = _opt(_size, 25 * 1024 * 1024)
    max_recipients: int = _opt(_int, 100)
    bare_newline: str = _opt(_choice("normalize", "reject"), "normalize")
    max_connections: int = _opt(_int, 100)           # Postfix default_process_limit
    max_connections_per_ip: int = _opt(_int, 20)     # a big MX sends over <= 20 (Postfix destination concurrency)
    command_timeout: float = _opt(_seconds, 300.0)   # RFC 5321 4.5.3.2.7
    data_timeout: float = _opt(_seconds, 600.0)      # RFC 5321 4.5.3.2.6
    junk_command_limit: int = _opt(_int, 100)        # Postfix smtpd_junk_command_limit; also counts repeated EHLO/HELO
    # 452s for recipients past max_recipients, per transaction, before each further one counts
    # as junk (Postfix smtpd_recipient_overshoot_limit)
    recipient_overshoot_limit: int = _opt(_int, 1000)


@dataclass(frozen=True)
class SubmissionConfig(SMTPConfig):
    listen: tuple[str, ...] = _opt(_endpoints, ("tcp:2587:interface=127.0.0.1",))
    max_connections_per_ip: int = _opt(_int, 10)     # a few mail clients behind one NAT
    # reject: an authenticated user may use as MAIL FROM only addresses delivered to them (their
    # name at a local domain, a subaddress, an alias listing them) or <> (Postfix
    # reject_sender_login_mismatch); allow: any sender.  For every AUTH session, MX port included.
    sender_login_mismatch: str = _opt(_choice("reject", "allow"), "reject")


@dataclass(frozen=True)
class POP3Config:
    listen: tuple[str, ...] = _opt(_endpoints, ("tcp:1110:interface=127.0.0.1",))
    idle_timeout: float = _opt(_seconds, 600.0)      # RFC 1939: at least 10 minutes
    max_connections: int = _opt(_int, 100)
    max_connections_per_ip: int = _opt(_int, 10)     # Dovecot mail_max_userip_connections
    max_bad_commands: int = _opt(_int, 20)           # then disconnect (Dovecot's limit); 0: none
    apop: bool = _opt(_bool, False)                  # offer APOP (to users stored PLAIN); off: no MD5 logins


def _orDerived(convert: Callable[[object, str, str], Any]) -> Callable[[object, str, str], Any]:
    """
    C{convert}, or L{None} (null: the value is derived from other keys).
    """
    def convertOrNone(value: object, key: str, source: str) -> Any:
        return None if value is None else convert(value, key, source)
    return convertOrNone


def _ipv6Prefix(value: object, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 128:
        raise _fail(source, key, "a prefix length from 1 to 128", value)
    return value


@dataclass(frozen=True)
class ChatConfig:
    listen: tuple[str, ...] = _opt(_endpoints, ("tcp:7000:interface=127.0.0.1",))
    idle_timeout: float = _opt(_seconds, 300.0)
    require_login: bool = _opt(_bool, False)
    max_line_length: int = _opt(_size, 4096)
    max_pending_output: int = _opt(_size, 256 * 1024)
    lines_per_second: float = _opt(_seconds, 10.0)   # per connection; 0: no flood throttle
    burst: int = _opt(_int, 30)
    max_connections: int = _opt(_int, 150)
    max_connections_per_ip: int = _opt(_int, 10)     # ngircd allows 5; a team behind one NAT needs more
    announce_limit: int = _opt(_int, 200)   # joins/parts announced in rooms up to this size; 0: always
    # Shared by every connection from one address (IPv6: one address_ipv6_prefix network):
    address_lines_per_second: float | None = _opt(_orDerived(_seconds), None)  # null: 2 x lines_per_second; 0: none
    address_burst: int | None = _opt(_orDerived(_int), None)                    # null: 2 x burst
    # bytes of chat one address may make the server send a second: a line's size times the members
    # it reaches (the cost of a broadcast); 0: no byte budget
    address_bytes_per_second: int = _opt(_size, 4 * 1024 * 1024)
    address_bytes_burst: int = _opt(_size, 16 * 1024 * 1024)
    address_ipv6_prefix: int = _opt(_ipv6Prefix, 64)

    @property
    def addressLineRate(self) -> float:
        """
        Lines a second one address may send (0: no line budget).
        """
        rate = self.address_lines_per_second
        return 2 * self.lines_per_second if rate is None else rate

    @property
    def addressLineBurst(self) -> int:
        """
        Lines one address may save up.
        """
        burst = self.address_burst
        return 2 * self.burst if burst is None else burst


@dataclass(frozen=True)
class IMAPConfig:
    listen: tuple[str, ...] = _opt(_endpoints, ("tcp:1143:interface=127.0.0.1",))
    idle_timeout: float = _opt(_seconds, 1800.0)     # RFC 9051 §5.4: at least 30 minutes
    max_connections: int = _opt(_int, 100)           # the defaults of every protocol fit RLIMIT_NOFILE 1024
    max_connections_per_ip: int = _opt(_int, 10)     # Dovecot mail_max_userip_connections
    max_line_length: int = _opt(_size, 64 * 1024)    # a command line (and its non-APPEND literals)
    max_literal_size: int = _opt(_size, 50 * 1024 * 1024)   # an APPEND message (APPENDLIMIT)
    max_bad_commands: int = _opt(_int, 20)           # BAD replies before BYE (Dovecot's limit); 0: none


@dataclass(frozen=True)
class Config:
    hostname: str = _opt(_str, "mail.example.test")
    domains: tuple[str, ...] = _opt(_domains, ("example.test", "localhost"))
    data_dir: str = _opt(_str, "./mailsuite-data")
    users_file: str | None = _opt(_optStr, None)   # None: <data_dir>/users.passwd
    allow_plaintext_auth: bool = _opt(_bool, False)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict, metadata={"convert": _aliases})
    catch_all: str | None = _opt(_optStr, None)
    shutdown_timeout: float = _opt(_seconds, 10.0)   # SIGTERM: in-flight work gets this long
    max_connections: int = _opt(_int, 0)   # the whole process, every protocol; 0: what RLIMIT_NOFILE holds
    tls: TLSConfig = _section(TLSConfig)
    auth: AuthConfig = _section(AuthConfig)
    smtp: SMTPConfig = _section(SMTPConfig)
    submission: SubmissionConfig = _section(SubmissionConfig)
    pop3: POP3Config = _section(POP3Config)
    chat: ChatConfig = _section(ChatConfig)
    imap: IMAPConfig = _section(IMAPConfig)
    relay: RelayConfig = _section(RelayConfig)
    cluster: ClusterConfig = _section(ClusterConfig)
    workers: int = _opt(workersCount, 1)          # processes sharing the listeners (> 1 needs cluster.redis)
    http: HTTPConfig = _section(HTTPConfig)
    proxy: ProxyConfig = _section(ProxyConfig)

    @property
    def usersFile(self) -> str:
        return self.users_file or os.path.join(self.data_dir, "users.passwd")

    @property
    def mailDir(self) -> str:
        return os.path.join(self.data_dir, "mail")

    @property
    def queueDir(self) -> str:
        return os.path.join(self.data_dir, "queue")

    def isLocalDomain(self, domain: str) -> bool:
        return domain.lower().rstrip(".") in self.domains


def _build(cls: type, raw: object, prefix: str, source: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(source, prefix or "(top level)", "a mapping", raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(source, where, f"unknown key (known: {', '.join(sorted(fields))})")
    values = {}
    for name, spec in fields.items():
        if name not in raw:
            continue
        key = f"{prefix}.{name}" if prefix else name
        if "section" in spec.metadata:
            values[name] = _build(spec.metadata["section"], raw[name], key, source)
        else:
            values[name] = spec.metadata["convert"](raw[name], key, source)
    return cls(**values)


class _StrictLoader(yaml.SafeLoader):
    """
    safe_load, but a key given twice in one mapping is an error.
    """


def _noDuplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for keyNode, _ in node.value:
        key = loader.construct_object(keyNode, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", keyNode.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _noDuplicates)


def _setDotted(raw: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        node = child
    node[last] = value


def _resolvePaths(config: Config, base: str) -> Config:
    def resolve(path: str | None) -> str | None:
        if path is None:
            return None
        return os.path.normpath(os.path.join(base, os.path.expanduser(path)))

    return dataclasses.replace(
        config,
        data_dir=resolve(config.data_dir),
        users_file=resolve(config.users_file),
        tls=dataclasses.replace(config.tls, cert=resolve(config.tls.cert), key=resolve(config.tls.key)),
        relay=config.relay.resolved(resolve),
        proxy=config.proxy.resolved(resolve),
    )


def configFromDict(raw: Mapping[str, object] | None = None, source: str = "<config>",
                   overrides: Mapping[str, object] | None = None, baseDir: str | None = None) -> Config:
    """
    Build a validated L{Config} from a mapping (the YAML document's shape);
    C{overrides} maps dotted keys (C{"smtp.listen"}) to values and wins.
    Relative paths are resolved against C{baseDir} (default: the current
    directory).

    @raise ConfigError: naming C{source} and the key.
    """
    merged: dict = {}
    for key, value in (raw or {}).items():
        merged[key] = dict(value) if isinstance(value, dict) else value
    for dotted, value in (overrides or {}).items():
        _setDotted(merged, dotted, value)
    config = _build(Config, merged, "", source)
    config.relay.check(source)
    config.cluster.check(source, config.workers)
    _endpoints(list(config.http.listen), "http.listen", source)
    config.proxy.check(source)
    _endpoints(list(config.proxy.auth_http.listen), "proxy.auth_http.listen", source)
    return _resolvePaths(config, baseDir if baseDir is not None else os.getcwd())


def loadConfig(path: str | None, overrides: Mapping[str, object] | None = None) -> Config:
    """
    Read and validate a tap.yaml; C{path=None} means built-in defaults only.
    Relative paths in the file are relative to the file's directory.

    @raise ConfigError: for an unreadable file, bad YAML, an unknown or
        duplicate key, a wrong type or a bad value.
    """
    if path is None:
        return configFromDict({}, "<defaults>", overrides)
    source = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.load(f, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except OSError as e:
        raise ConfigError(source, "", f"cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(source, "", f"invalid YAML: {e}".replace("\n", " ")) from None
    if raw is not None and not isinstance(raw, dict):
        raise _fail(source, "(top level)", "a mapping", raw)
    return configFromDict(raw, source, overrides, os.path.dirname(os.path.abspath(path)))


def configToDict(config: Config) -> dict:
    """
    The effective configuration as plain data (for C{check-config}).
    """
    def plain(value: object) -> object:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    result = plain(config)
    assert isinstance(result, dict)
    result["users_file"] = config.usersFile
    return result
