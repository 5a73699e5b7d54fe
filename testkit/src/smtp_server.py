"""A real SMTP server for jitgate's tests: aiosmtpd (Debian's python3-aiosmtpd) delivering into
a Maildir. Arguments: port, maildir, mode (plain | starttls | tls), cert, key, user, password
(cert/key empty for plain; user empty for no authentication), and optionally a delay in
seconds. With a user, mail is accepted only after AUTH with that login. With a delay, each
message is stored and acknowledged only that long after its data arrived: a slow relay."""
import asyncio
import ssl
import sys

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

port, maildir, mode, cert, key, user, password = sys.argv[1:8]
delay = float(sys.argv[8]) if len(sys.argv) > 8 else 0.0


class SlowMailbox(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(delay)
        return await super().handle_DATA(server, session, envelope)


def context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user and auth_data.password.decode() == password)
    return AuthResult(success=ok)


async def main():
    handler = SlowMailbox(maildir) if delay > 0 else Mailbox(maildir)
    starttls = context() if mode == "starttls" else None
    implicit = context() if mode == "tls" else None

    def factory():
        return SMTP(
            handler,
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticate if user else None,
            auth_required=bool(user),
            auth_require_tls=False,
        )

    server = await asyncio.get_running_loop().create_server(
        factory, "127.0.0.1", int(port), ssl=implicit)
    await server.serve_forever()


asyncio.run(main())
