"""A real SMTP server for jitgate's tests: aiosmtpd (Debian's python3-aiosmtpd) delivering into
a Maildir. Arguments: port, maildir, mode (plain | starttls | tls), cert, key, user, password
(cert/key empty for plain; user empty for no authentication). With a user, mail is accepted
only after AUTH with that login."""
import asyncio
import ssl
import sys

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

port, maildir, mode, cert, key, user, password = sys.argv[1:8]


def context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user and auth_data.password.decode() == password)
    return AuthResult(success=ok)


async def main():
    handler = Mailbox(maildir)
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
