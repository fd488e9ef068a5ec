# -*- test-case-name: tests.relay.test_dkim -*-
"""
Tests for L{twisted_mail_suite.relay.dkim}: keys made by C{dkim
generate}, signatures verified by dkimpy with the published record.
"""
from __future__ import annotations

import os
import stat

import dkim
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import ConfigError
from twisted_mail_suite.relay.dkim import DKIMSigner, SigningOutbound, fromDomain, generateKey
from twisted_mail_suite.relay.memory import MemoryOutbox
from twisted_mail_suite.store.maildir import runSynchronously

MESSAGE = (b"From: Alice <alice@Example.TEST>\r\nTo: bob@remote.test\r\nSubject: signed\r\n"
           b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello  \r\nthere\r\n")


def dnsFor(record: str, name: str = "sel._domainkey.example.test."):  # type: ignore[no-untyped-def]
    def dnsfunc(query: bytes, timeout: int = 5) -> bytes:
        return record.encode() if query.decode().rstrip(".") + "." == name else b""
    return dnsfunc


class KeyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "example.test.pem")
        self.record = generateKey(self.path)

    def test_keyFileAndRecord(self) -> None:
        """
        The key is written 0600 and the TXT record is v=DKIM1, k=rsa with the public key.
        """
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        self.assertTrue(self.record.startswith("v=DKIM1; k=rsa; p=MII"))
        self.assertRaises(FileExistsError, generateKey, self.path)

    def test_signedVerifies(self) -> None:
        """
        A message signed with the key (relaxed/relaxed, rsa-sha256) verifies with dkimpy and the record.
        """
        signer = DKIMSigner.fromConfig({"example.test": {"selector": "sel", "key_file": self.path}})
        signature = signer.sign(MESSAGE)
        self.assertIn(b"c=relaxed/relaxed", signature)
        self.assertIn(b"a=rsa-sha256", signature)
        self.assertTrue(dkim.verify(signature + MESSAGE, dnsfunc=dnsFor(self.record)))
        self.assertFalse(dkim.verify(signature + MESSAGE.replace(b"there", b"thera"), dnsfunc=dnsFor(self.record)))

    def test_otherDomainsUnsigned(self) -> None:
        """
        A From domain without a key is not signed.
        """
        signer = DKIMSigner.fromConfig({"example.test": {"selector": "sel", "key_file": self.path}})
        self.assertEqual(signer.sign(MESSAGE.replace(b"Example.TEST", b"other.test")), b"")

    def test_signAtEnqueue(self) -> None:
        """
        The signing outbound queue hands on the signed text once.
        """
        outbox = MemoryOutbox()
        signer = DKIMSigner.fromConfig({"example.test": {"selector": "sel", "key_file": self.path}})
        pending = SigningOutbound(outbox, signer, runSynchronously).begin("alice@example.test", ["bob@remote.test"])
        pending.write(MESSAGE[:30])
        pending.write(MESSAGE[30:])
        self.successResultOf(pending.commit())
        [message] = outbox.messages
        self.assertTrue(message.data.startswith(b"DKIM-Signature: "))
        self.assertTrue(dkim.verify(message.data, dnsfunc=dnsFor(self.record)))

    def test_badKeyFile(self) -> None:
        """
        A key file that is not a key is a configuration error naming the key.
        """
        with open(self.path + ".bad", "wb") as f:
            f.write(b"nonsense")
        error = self.assertRaises(ConfigError, DKIMSigner.fromConfig,
                                  {"example.test": {"selector": "s", "key_file": self.path + ".bad"}})
        self.assertIn("relay.dkim.example.test.key_file", str(error))

    def test_fromDomain(self) -> None:
        """
        The From domain is read from a folded field with a display name.
        """
        self.assertEqual(fromDomain(b"To: x@y\r\nFrom: \"A, B\"\r\n <a@Mail.Example.TEST>\r\n\r\n"),
                         "mail.example.test")
        self.assertIsNone(fromDomain(b"To: x@y\r\n\r\nFrom: a@b.test\r\n"))
