"""
The aiosmtpd anchor: what a Python developer writes first.  aiosmtpd's SMTP
server on asyncio, every message stored with the standard library's
C{mailbox.Maildir.add} (which writes tmp/, fsyncs the file and links it
into new/) called on the event loop; 250 after it returns.

    python benchmarks/anchors/aiosmtpdmaildir.py --port 2527 --maildir /tmp/md
"""
import argparse
import asyncio
import mailbox

from aiosmtpd.smtp import SMTP


class StoreInMaildir:
    def __init__(self, folder):
        self.maildir = mailbox.Maildir(folder, factory=None, create=True)

    async def handle_DATA(self, server, session, envelope):
        self.maildir.add(envelope.original_content or envelope.content)
        return "250 2.0.0 stored"


async def serve(options):
    handler = StoreInMaildir(options.maildir)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="aiosmtpd.bench.invalid", data_size_limit=64 << 20),
        options.host, options.port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    asyncio.run(serve(parser.parse_args()))
