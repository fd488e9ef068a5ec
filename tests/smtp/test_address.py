# -*- test-case-name: tests.smtp.test_address -*-
"""
Parsing MAIL and RCPT arguments; the EHLO name made safe.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import ProtocolError
from twisted_mail_suite.smtp.address import MAX_HELO, isHeloDomain, neuterHelo, parseMailArguments, parseRcptArguments


class MailArgumentTests(SynchronousTestCase):
    def code(self, argument: bytes, extended: bool = True, maxSize: int = 1000) -> bytes:
        with self.assertRaises(ProtocolError) as caught:
            parseMailArguments(argument, extended, maxSize)
        return caught.exception.code

    def test_plain(self) -> None:
        """
        A bare path gives the sender, 7BIT, no size, no SMTPUTF8.
        """
        self.assertEqual(parseMailArguments(b"FROM:<a@b.test>", True, 0), (b"a@b.test", False, b"7BIT", None))

    def test_nullSender(self) -> None:
        """
        C{<>} is the null reverse path.
        """
        self.assertEqual(parseMailArguments(b"FROM:<>", True, 0)[0], b"")

    def test_caseAndSpace(self) -> None:
        """
        The keyword is case-insensitive and a space after the colon is tolerated.
        """
        self.assertEqual(parseMailArguments(b"from: <a@b.test>", True, 0)[0], b"a@b.test")

    def test_parameters(self) -> None:
        """
        SIZE, BODY and SMTPUTF8 are understood; AUTH= is accepted and ignored.
        """
        self.assertEqual(parseMailArguments(b"FROM:<a@b.test> SIZE=500 BODY=8bitmime SMTPUTF8 AUTH=<>", True, 1000),
                         (b"a@b.test", True, b"8BITMIME", 500))

    def test_declaredSizeTooBig(self) -> None:
        """
        A declared size over the limit is refused at MAIL with 552 5.3.4.
        """
        self.assertEqual(self.code(b"FROM:<a@b.test> SIZE=1001"), b"552 5.3.4")

    def test_noLimit(self) -> None:
        """
        A limit of 0 means none.
        """
        self.assertEqual(parseMailArguments(b"FROM:<a@b.test> SIZE=99999999", True, 0)[3], 99999999)

    def test_badSize(self) -> None:
        """
        A SIZE that is not a number is a syntax error.
        """
        self.assertEqual(self.code(b"FROM:<a@b.test> SIZE=big"), b"501 5.5.4")

    def test_unknownParameter(self) -> None:
        """
        An unknown parameter gets 555 5.5.4.
        """
        self.assertEqual(self.code(b"FROM:<a@b.test> RET=FULL"), b"555 5.5.4")

    def test_parametersNeedEHLO(self) -> None:
        """
        After HELO no parameters are allowed.
        """
        self.assertEqual(self.code(b"FROM:<a@b.test> SIZE=5", extended=False), b"555 5.5.4")

    def test_badBody(self) -> None:
        """
        BODY takes 7BIT or 8BITMIME only.
        """
        self.assertEqual(self.code(b"FROM:<a@b.test> BODY=BINARYMIME"), b"501 5.5.4")

    def test_syntaxErrors(self) -> None:
        """
        Missing keyword, missing brackets, junk after the path and a bad
        mailbox are 501s.
        """
        for argument, code in [(b"<a@b.test>", b"501 5.5.4"), (b"FROM:a@b.test", b"501 5.1.7"),
                               (b"FROM:<a@b.test", b"501 5.1.7"), (b"FROM:<a@b.test>x", b"501 5.1.7"),
                               (b"FROM:<a b@c.test>", b"501 5.1.7"), (b"FROM:<@b.test>", b"501 5.1.7"),
                               (b"FROM:<a@>", b"501 5.1.7")]:
            self.assertEqual(self.code(argument), code, argument)

    def test_tooLong(self) -> None:
        """
        A path over 256 octets is refused.
        """
        self.assertEqual(self.code(b"FROM:<" + b"a" * 250 + b"@b.test>"), b"501 5.1.7")

    def test_utf8NeedsSMTPUTF8(self) -> None:
        """
        A UTF-8 address is refused with 553 5.6.7 unless SMTPUTF8 is given.
        """
        address = "jörg@exämple.test".encode()
        self.assertEqual(self.code(b"FROM:<" + address + b">"), b"553 5.6.7")
        self.assertEqual(parseMailArguments(b"FROM:<" + address + b"> SMTPUTF8", True, 0)[0], address)

    def test_invalidUTF8(self) -> None:
        """
        Non-ASCII octets that are not UTF-8 are refused even with SMTPUTF8.
        """
        self.assertEqual(self.code(b"FROM:<j\xffrg@b.test> SMTPUTF8"), b"501 5.1.7")

    def test_sourceRouteIgnored(self) -> None:
        """
        An RFC 821 source route is dropped.
        """
        self.assertEqual(parseMailArguments(b"FROM:<@relay.test,@other.test:a@b.test>", True, 0)[0], b"a@b.test")

    def test_quotedLocalPart(self) -> None:
        """
        A quoted local part is accepted as is.
        """
        self.assertEqual(parseMailArguments(b'FROM:<"a b"@c.test>', True, 0)[0], b'"a b"@c.test')


class RcptArgumentTests(SynchronousTestCase):
    def code(self, argument: bytes, utf8: bool = False) -> bytes:
        with self.assertRaises(ProtocolError) as caught:
            parseRcptArguments(argument, utf8)
        return caught.exception.code

    def test_plain(self) -> None:
        """
        A path gives the address.
        """
        self.assertEqual(parseRcptArguments(b"TO:<alice@example.test>", False), b"alice@example.test")

    def test_postmaster(self) -> None:
        """
        C{<postmaster>} without a domain is allowed (RFC 5321 §4.5.1).
        """
        self.assertEqual(parseRcptArguments(b"TO:<Postmaster>", False), b"Postmaster")

    def test_empty(self) -> None:
        """
        C{<>} is no recipient.
        """
        self.assertEqual(self.code(b"TO:<>"), b"501 5.1.3")

    def test_parameters(self) -> None:
        """
        RCPT parameters (DSN is not offered) get 555.
        """
        self.assertEqual(self.code(b"TO:<a@b.test> NOTIFY=NEVER"), b"555 5.5.4")

    def test_utf8(self) -> None:
        """
        A UTF-8 recipient needs SMTPUTF8 on the transaction.
        """
        address = "ålice@example.test".encode()
        self.assertEqual(self.code(b"TO:<" + address + b">"), b"553 5.6.7")
        self.assertEqual(parseRcptArguments(b"TO:<" + address + b">", True), address)

    def test_missingKeyword(self) -> None:
        """
        C{RCPT <x>} without C{TO:} is a syntax error.
        """
        self.assertEqual(self.code(b"<a@b.test>"), b"501 5.5.4")


class HeloNameTests(SynchronousTestCase):
    def test_domainsAndLiteralsKept(self) -> None:
        """
        Domains (underscores included) and address literals come through
        unchanged and are fit for the C{from} clause.
        """
        for name in [b"mail.example.org", b"Client-1.Example.Test.", b"my_pc", b"[192.0.2.7]",
                     b"[IPv6:2001:db8::7]", b"localhost"]:
            self.assertEqual(neuterHelo(name), name)
            self.assertTrue(isHeloDomain(name), name)

    def test_neutered(self) -> None:
        """
        Space, TAB and other controls, comment and clause delimiters and
        8-bit octets all become C{?}.
        """
        self.assertEqual(neuterHelo(b"x\t(authenticated\tas\tadmin);\"<>@,\\\x00\xc3\xa9"),
                         b"x??authenticated?as?admin???????????")

    def test_length(self) -> None:
        """
        At most MAX_HELO octets are kept.
        """
        self.assertEqual(len(neuterHelo(b"a" * 1000)), MAX_HELO)

    def test_notDomains(self) -> None:
        """
        Anything else is not a domain or an address literal.
        """
        for name in [b"x?y", b"-a.test", b"a..test", b"[999.1.1.1]", b"[IPv6:1.2.3.4]", b"[2001:db8::1]",
                     b"[1.2.3.4", b"", b".", b"a" * (MAX_HELO + 1), b"a.test\n"]:
            self.assertFalse(isHeloDomain(name), name)
