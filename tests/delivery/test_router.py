# -*- test-case-name: tests.delivery.test_router -*-
"""
Tests for L{twisted_mail_suite.delivery.router}: addresses to local users
(aliases, subaddress, catch-all, bare postmaster) or to a remote route.
"""
from __future__ import annotations

import ast
import inspect

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.delivery import router as routerModule
from twisted_mail_suite.delivery.router import LocalRoute, RemoteRoute, Router
from twisted_mail_suite.errors import UnknownRecipient

from .support import NamesOnly


def makeRouter(aliases: dict | None = None, catchAll: str | None = None,
               users: tuple[str, ...] = ("alice", "bob")) -> Router:
    return Router(["example.test", "localhost"], aliases or {}, catchAll, NamesOnly(*users))


class LocalUserTests(SynchronousTestCase):
    def test_user(self) -> None:
        """
        An existing user in a local domain routes to that user.
        """
        self.assertEqual(makeRouter().route("alice@example.test"), LocalRoute(("alice",)))

    def test_case(self) -> None:
        """
        Local part and domain are compared without case; the user name is lower-case.
        """
        self.assertEqual(makeRouter().route("Alice@EXAMPLE.Test"), LocalRoute(("alice",)))

    def test_trailingDot(self) -> None:
        """
        A fully qualified domain with its trailing dot is still local.
        """
        self.assertEqual(makeRouter().route("bob@example.test."), LocalRoute(("bob",)))

    def test_everyLocalDomain(self) -> None:
        """
        Each configured domain is local.
        """
        self.assertEqual(makeRouter().route("bob@localhost"), LocalRoute(("bob",)))

    def test_subaddress(self) -> None:
        """
        C{alice+tag} goes to C{alice}.
        """
        self.assertEqual(makeRouter().route("alice+news@example.test"), LocalRoute(("alice",)))

    def test_userWithPlusWins(self) -> None:
        """
        A user whose name contains C{+} gets mail for that exact name.
        """
        router = makeRouter(users=("alice", "alice+work"))
        self.assertEqual(router.route("alice+work@example.test"), LocalRoute(("alice+work",)))

    def test_unknown(self) -> None:
        """
        A local address nobody receives raises L{UnknownRecipient} naming it.
        """
        error = self.assertRaises(UnknownRecipient, makeRouter().route, "carol@example.test")
        self.assertEqual(error.address, "carol@example.test")

    def test_unknownSubaddress(self) -> None:
        """
        A subaddress of nobody is unknown too.
        """
        self.assertRaises(UnknownRecipient, makeRouter().route, "carol+x@example.test")


class AliasTests(SynchronousTestCase):
    def test_alias(self) -> None:
        """
        An alias routes to its users, in the configured order.
        """
        router = makeRouter({"sales": ("bob", "alice")})
        self.assertEqual(router.route("Sales@example.test"), LocalRoute(("bob", "alice")))

    def test_aliasWithDomainFirst(self) -> None:
        """
        An alias naming the domain wins over the same alias without one.
        """
        router = makeRouter({"info": ("alice",), "info@localhost": ("bob",)})
        self.assertEqual(router.route("info@localhost"), LocalRoute(("bob",)))
        self.assertEqual(router.route("info@example.test"), LocalRoute(("alice",)))

    def test_aliasOverUser(self) -> None:
        """
        An alias with a user's name redirects that user's mail.
        """
        router = makeRouter({"alice": ("bob",)})
        self.assertEqual(router.route("alice@example.test"), LocalRoute(("bob",)))

    def test_aliasKeysWithoutCase(self) -> None:
        """
        Alias keys given with capitals still match.
        """
        router = makeRouter({"Team": ("alice", "bob")})
        self.assertEqual(router.route("team@example.test"), LocalRoute(("alice", "bob")))

    def test_aliasesAskNoUser(self) -> None:
        """
        An alias is resolved without asking the users database.
        """
        users = NamesOnly("alice")
        Router(["example.test"], {"sales": ("alice",)}, None, users).route("sales@example.test")
        self.assertEqual(users.lookups, [])


class CatchAllTests(SynchronousTestCase):
    def test_catchAll(self) -> None:
        """
        With a catch-all, unknown local parts go to that user.
        """
        self.assertEqual(makeRouter(catchAll="bob").route("whoever@example.test"), LocalRoute(("bob",)))

    def test_usersBeforeCatchAll(self) -> None:
        """
        Users and subaddresses are found before the catch-all applies.
        """
        router = makeRouter(catchAll="bob")
        self.assertEqual(router.route("alice+x@example.test"), LocalRoute(("alice",)))

    def test_catchAllNotForForeign(self) -> None:
        """
        The catch-all does not take foreign domains.
        """
        self.assertEqual(makeRouter(catchAll="bob").route("x@elsewhere.test"), RemoteRoute("x@elsewhere.test"))


class PostmasterTests(SynchronousTestCase):
    def test_barePostmaster(self) -> None:
        """
        A bare C{postmaster} (no domain) is local (RFC 5321 §4.5.1).
        """
        router = makeRouter({"postmaster": ("alice",)})
        self.assertEqual(router.route("PostMaster"), LocalRoute(("alice",)))

    def test_barePostmasterUser(self) -> None:
        """
        Without an alias, a bare C{postmaster} goes to a user of that name.
        """
        router = makeRouter(users=("postmaster",))
        self.assertEqual(router.route("postmaster"), LocalRoute(("postmaster",)))

    def test_otherBareName(self) -> None:
        """
        Any other bare name is not ours.
        """
        self.assertEqual(makeRouter().route("alice"), RemoteRoute("alice"))


class RemoteTests(SynchronousTestCase):
    def test_foreignDomain(self) -> None:
        """
        A foreign domain routes remotely, with the address as given.
        """
        self.assertEqual(makeRouter().route("Alice@Elsewhere.test"), RemoteRoute("Alice@Elsewhere.test"))

    def test_foreignAsksNobody(self) -> None:
        """
        A foreign address is routed without asking the users database.
        """
        users = NamesOnly("alice")
        Router(["example.test"], {}, None, users).route("alice@elsewhere.test")
        self.assertEqual(users.lookups, [])

    def test_isLocalDomain(self) -> None:
        """
        C{isLocalDomain} ignores case and a trailing dot.
        """
        router = makeRouter()
        self.assertEqual([router.isLocalDomain(d) for d in ("EXAMPLE.test.", "localhost", "example.org")],
                         [True, True, False])


class ConfigTests(SynchronousTestCase):
    def test_fromConfig(self) -> None:
        """
        C{fromConfig} takes the domains, aliases and catch-all of the config.
        """
        config = configFromDict({"domains": ["mail.test"], "aliases": {"all": ["alice", "bob"]},
                                 "catch_all": "bob"}, "test.yaml")
        router = Router.fromConfig(config, NamesOnly("alice", "bob"))
        self.assertEqual([router.route("all@mail.test"), router.route("nobody@mail.test"),
                          router.route("alice@example.test")],
                         [LocalRoute(("alice", "bob")), LocalRoute(("bob",)), RemoteRoute("alice@example.test")])


class PurityTests(SynchronousTestCase):
    def test_noReactor(self) -> None:
        """
        The router imports nothing from C{twisted} and of ours only the bottom layer.
        """
        tree = ast.parse(inspect.getsource(routerModule))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
        self.assertEqual({name for name in imported if name.startswith(".")},
                         {"..errors", "..interfaces"})
        self.assertEqual([name for name in imported if name.startswith("twisted")], [])
