"""A real SMTP server for tugboat-watch's tests (PyPI aiosmtpd), started by tests/support/smtp.rs.

    python3 smtp_sink.py --dir DIR [--port PORT] [--auth USER:PASSWORD] [--cert PEM --key PEM]

Listens on 127.0.0.1:PORT (0: a free port), prints `LISTENING <port>` on stdout once it accepts
connections, and writes every message it receives to DIR/NNNNNN.eml (numbered in arrival order,
continuing after a restart), written to a temporary name first and renamed, so a reader never sees half
a message. Each file holds two lines of envelope, then the message exactly as sent:

    X-Sink-Mail-From: <from>
    X-Sink-Rcpt-To: <to>, <to>

While DIR/reject exists, every message is refused with `451` (a temporary failure, so a sender retries).
With --auth, AUTH PLAIN/LOGIN is offered (also without TLS) and required; with --cert/--key, STARTTLS.
The server exits when its stdin closes, so it never outlives the test process that started it.
"""

import argparse
import asyncio
import os
import ssl
import sys
import threading
import warnings

# aiosmtpd warns about AUTH without TLS and its own deprecations: expected here, noise in test logs.
warnings.filterwarnings("ignore")

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:
    sys.stderr.write("install aiosmtpd: python3 -m pip install aiosmtpd\n")
    sys.exit(3)


class Sink:
    def __init__(self, directory):
        self.directory = directory
        names = [n for n in os.listdir(directory) if n.endswith(".eml")]
        self.count = max((int(n[:-4]) for n in names), default=0)

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(os.path.join(self.directory, "reject")):
            return "451 4.3.0 sink told to refuse messages"
        self.count += 1
        head = "X-Sink-Mail-From: {}\r\nX-Sink-Rcpt-To: {}\r\n".format(
            envelope.mail_from, ", ".join(envelope.rcpt_tos)
        ).encode()
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        path = os.path.join(self.directory, "{:06d}.eml".format(self.count))
        with open(path + ".tmp", "wb") as f:
            f.write(head + data)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--auth")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    options = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options["tls_context"] = context
        options["require_starttls"] = False
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            # handled=False: aiosmtpd then answers a failure with 535 itself (True would send nothing).
            return AuthResult(success=ok, handled=ok)

        options["authenticator"] = authenticator
        options["auth_required"] = True
        options["auth_require_tls"] = False

    sink = Sink(args.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(sink, hostname="sink.tugboat.test", **options), "127.0.0.1", args.port)
    )
    port = server.sockets[0].getsockname()[1]

    def watch_stdin():
        while sys.stdin.buffer.read1(4096):
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("LISTENING {}".format(port), flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
