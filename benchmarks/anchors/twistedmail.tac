# -*- python -*-
# twistd -n -y benchmarks/anchors/twistedmail.tac
#
# The "Twisted mail" anchor: the stock twisted.mail MailService with one
# Maildir domain (ESMTP in, POP3 out), as `twistd mail -d DOMAIN=ROOT -u
# USER=PW` means to build it.  That command line cannot deliver or serve a
# message with Twisted 26.10 on Python 3, so this file builds the same
# objects and fixes only the str/bytes mix-ups that break them:
#   * the domain and the users must be registered as bytes (the SMTP server
#     looks up the bytes domain of RCPT TO; `-u` dies on a str DirDBM key);
#   * AbstractMaildirDomain.startMessage joins a bytes user directory with
#     str names, opens the tmp file in text mode and formats a str address
#     into the bytes Delivered-To header: every DATA ends in a 550;
#   * MaildirMailbox.getMessage opens the message in text mode, so RETR
#     stalls after "+OK".
# Nothing else is changed: no fsync (the stock code has none), no
# TCP_NODELAY, the stock line-at-a-time message writer.
#
# Settings come from the environment:
#   ANCHOR_ROOT    Maildir root, one folder per user   (required)
#   ANCHOR_DOMAIN  mail domain                          (example.com)
#   ANCHOR_SMTP    SMTP endpoint, or "none"            (tcp:2526:interface=127.0.0.1)
#   ANCHOR_POP3    POP3 endpoint, or "none"            (tcp:2111:interface=127.0.0.1)
#   ANCHOR_USERS   comma list of USER=PASSWORD          (joe=pw)
import os

from twisted.application import service, strports
from twisted.cred.checkers import AllowAnonymousAccess
from twisted.mail import mail, maildir


class BytesMailbox(maildir.MaildirMailbox):
    """A Maildir mailbox whose messages are read as bytes."""

    def getMessage(self, i):
        return open(self.list[i], "rb")


class BytesMaildirDomain(maildir.MaildirDirdbmDomain):
    """A Maildir domain whose message files and headers are bytes."""

    def startMessage(self, user):
        local, domain = user.dest.local, user.dest.domain
        # str paths: MaildirMessage appends ",S=<size>" to the final name.
        folder = os.fsdecode(self.userDirectory(local))
        unique = os.fsdecode(maildir._generateMaildirName())
        temporary = os.path.join(folder, "tmp", unique)
        return maildir.MaildirMessage(local + b"@" + domain, open(temporary, "wb"),
                                      temporary, os.path.join(folder, "new", unique))

    def requestAvatar(self, avatarId, mind, *interfaces):
        interface, mailbox, logout = super().requestAvatar(avatarId, mind, *interfaces)
        if type(mailbox) is maildir.MaildirMailbox:
            mailbox.__class__ = BytesMailbox
        return interface, mailbox, logout


env = os.environ.get
application = service.Application("twisted-mail-anchor")
mailService = mail.MailService()
mailService.setServiceParent(application)
mailService.smtpPortal.registerChecker(AllowAnonymousAccess())   # no --disable-anonymous
domain = BytesMaildirDomain(mailService, os.path.abspath(env("ANCHOR_ROOT")).encode())
for entry in env("ANCHOR_USERS", "joe=pw").split(","):
    name, _, password = entry.partition("=")
    domain.addUser(name.encode(), password.encode())
mailService.addDomain(env("ANCHOR_DOMAIN", "example.com").encode(), domain)
for variable, default, makeFactory in [
        ("ANCHOR_SMTP", "tcp:2526:interface=127.0.0.1", mailService.getESMTPFactory),
        ("ANCHOR_POP3", "tcp:2111:interface=127.0.0.1", mailService.getPOP3Factory)]:
    description = env(variable, default)
    if description != "none":
        strports.service(description, makeFactory()).setServiceParent(mailService)
