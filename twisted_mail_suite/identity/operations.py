# -*- test-case-name: tests.identity.test_operations -*-
"""
The user operations (list, add, set a password, delete) that
C{mailsuite-admin users ...} and the HTTP admin API both perform, written
once: the same name rule, the same password rules (not empty, within
C{auth.max_password_length}), the same hashing (C{auth.default_scheme}
unless a scheme is given) and the same answers (L{UserError}).

They work on a L{UsersBackend}: the users file (L{FileBackend}, rewritten
atomically under its lock; a running server notices the change by its
mtime, or at once through C{afterChange}) or the users held in memory by
an embedder or the test harness (L{MemoryBackend}).  Every call blocks
(hashing is slow on purpose, the file is locked and fsync'd): a server
runs them in a thread.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from . import hashing
from .entries import normalizeName, validUserName
from .passwd import PasswdFile
from .usersfile import addUser, deleteUser, setUserPassword

__all__ = ["FileBackend", "MemoryBackend", "UserError", "UserOperations", "UsersBackend", "backendFor"]


class UserError(Exception):
    """
    An operation refused.

    @ivar kind: C{"bad-name"}, C{"bad-password"}, C{"exists"},
        C{"missing"} or C{"read-only"}.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class UsersBackend(Protocol):
    def names(self) -> list[str]: ...
    def exists(self, name: str) -> bool: ...
    def add(self, name: str, stored: str) -> bool: ...
    def set(self, name: str, stored: str) -> bool: ...
    def delete(self, name: str) -> bool: ...


class FileBackend:
    """
    The users file at C{path}.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def names(self) -> list[str]:
        return PasswdFile(self.path).names()          # read fresh each time

    def exists(self, name: str) -> bool:
        return PasswdFile(self.path).lookup(name) is not None

    def add(self, name: str, stored: str) -> bool:
        return addUser(self.path, name, stored)

    def set(self, name: str, stored: str) -> bool:
        return setUserPassword(self.path, name, stored, create=False)

    def delete(self, name: str) -> bool:
        return deleteUser(self.path, name)


class MemoryBackend:
    """
    Users in memory (C{InMemoryUsers}: C{setStored}, C{remove}, C{lookup}).
    """

    def __init__(self, users: Any) -> None:
        self.users = users

    def names(self) -> list[str]:
        return sorted(self.users.names())

    def exists(self, name: str) -> bool:
        return self.users.lookup(name) is not None

    def add(self, name: str, stored: str) -> bool:
        if self.exists(name):
            return False
        self.users.setStored(name, stored)
        return True

    def set(self, name: str, stored: str) -> bool:
        if not self.exists(name):
            return False
        self.users.setStored(name, stored)
        return True

    def delete(self, name: str) -> bool:
        if not self.exists(name):
            return False
        self.users.remove(name)
        return True


def backendFor(users: Any) -> UsersBackend | None:
    """
    The backend changing C{users} (a suite's users database): its file
    for a C{PasswdFile}, itself for users in memory; L{None} for a
    database these operations cannot change.
    """
    path = getattr(users, "path", None)
    if isinstance(path, str):
        return FileBackend(path)
    if hasattr(users, "setStored") and hasattr(users, "remove"):
        return MemoryBackend(users)
    return None


class UserOperations:
    """
    The operations on one backend.

    @param authConfig: the C{auth} section (C{default_scheme},
        C{max_password_length}).
    @param afterChange: called after each change (a server re-reads its
        users file at once).
    """

    def __init__(self, backend: UsersBackend, authConfig: Any,
                 afterChange: Callable[[], object] | None = None) -> None:
        self.backend = backend
        self.authConfig = authConfig
        self.afterChange = afterChange

    def checkName(self, name: str) -> str:
        """
        @return: C{name} as stored (lower case).
        @raise UserError: C{bad-name}.
        """
        normal = name.lower()
        if not validUserName(normal):
            raise UserError("bad-name", f"bad user name {name!r} (1-32 letters, digits, '.', '_', '-', '+')")
        return normalizeName(normal)

    def checkPassword(self, password: str) -> None:
        """
        @raise UserError: C{bad-password} (empty, or too long to log in with).
        """
        if not password:
            raise UserError("bad-password", "empty password")
        limit = self.authConfig.max_password_length
        if len(password.encode("utf-8")) > limit:
            raise UserError("bad-password", f"password longer than auth.max_password_length ({limit} bytes): "
                                            "it could never log in")

    def names(self) -> list[str]:
        return self.backend.names()

    def exists(self, name: str) -> bool:
        return self.backend.exists(self.checkName(name))

    def _hash(self, password: str, scheme: str | None) -> str:
        self.checkPassword(password)
        return hashing.hashPassword(password, scheme or self.authConfig.default_scheme)

    def add(self, name: str, password: str, scheme: str | None = None) -> str:
        """
        @return: the user name as stored.
        @raise UserError: C{bad-name}, C{bad-password}, C{exists}.
        """
        name = self.checkName(name)
        if self.backend.exists(name):         # early answer; decided again under the lock
            raise UserError("exists", f"user {name} exists (use users passwd)")
        if not self.backend.add(name, self._hash(password, scheme)):
            raise UserError("exists", f"user {name} exists (use users passwd)")
        self._changed()
        return name

    def passwd(self, name: str, password: str, scheme: str | None = None) -> str:
        """
        @raise UserError: C{bad-name}, C{bad-password}, C{missing}.
        """
        name = self.checkName(name)
        if not self.backend.exists(name):
            raise UserError("missing", f"no user {name}")
        if not self.backend.set(name, self._hash(password, scheme)):
            raise UserError("missing", f"no user {name}")
        self._changed()
        return name

    def delete(self, name: str) -> str:
        """
        @raise UserError: C{bad-name}, C{missing}.
        """
        name = self.checkName(name)
        if not self.backend.delete(name):
            raise UserError("missing", f"no user {name}")
        self._changed()
        return name

    def _changed(self) -> None:
        if self.afterChange is not None:
            self.afterChange()
