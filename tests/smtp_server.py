"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on a free port.

Use :func:`smtp_server` as a context manager (or wrap it in a fixture)::

    with smtp_server("starttls", users={"billing": "s3cret"}) as server:
        settings = server.settings(user="billing", password="s3cret")
        with Mailer(settings) as mailer:
            mailer.send(msg, ["a@example.com"])
        assert server.messages[0].message["Subject"] == "..."

Modes (``security``):

* ``"none"``: plain SMTP. With ``users``, AUTH is offered without TLS
  (aiosmtpd's ``auth_require_tls=False``; by default it hides AUTH until TLS).
* ``"starttls"``: STARTTLS with a certificate from a throwaway ``trustme`` CA,
  required before MAIL; AUTH (if ``users``) offered only after it.
* ``"ssl"``: implicit TLS from the first byte (``ssl_context`` on the Controller).

The client trusts the test CA through ``server.ca_file`` (a PEM file, what
``RECEIVABLES_SMTP_CA_FILE`` / ``SmtpSettings.ca_file`` take) or
``server.client_ssl_context()`` (for ``Mailer(ssl_context=...)``).

Faults: ``refuse`` (550 on RCPT for those addresses), ``reject_data`` (554 on
DATA when any recipient is one of those addresses), ``drop_after=N`` (the
connection is closed right after the N-th message is accepted; once).

Faults whose outcome the client cannot know (the message is stored, the client
never hears so): ``drop_before_reply={N, ...}`` (the N-th message is stored, then
the connection is cut before the final 250), ``delay_reply={N: seconds}`` (the
N-th message is stored and its 250 comes only after that many seconds: past a
small client timeout). And ``defer`` (451, try again later, on RCPT for those
addresses).
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from toolkit.reminders.smtp import SmtpSettings

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # the DATA bytes, dot-unstuffed, CRLF line ends as sent
    message: EmailMessage
    peer: tuple[str, int]  # the client's address and port: same peer, same connection
    login: str | None  # who the session authenticated as, None without AUTH
    tls: bool  # True when the session was encrypted (STARTTLS or implicit TLS)


@dataclass(frozen=True)
class AuthAttempt:
    """One AUTH exchange: the mechanism, the user name given, and whether it passed."""

    mechanism: str
    login: str
    success: bool
    peer: tuple[str, int]


@dataclass
class RecordingHandler:
    """aiosmtpd handler that records everything and injects the faults asked for."""

    users: Mapping[str, str] = field(default_factory=dict)
    refuse: frozenset[str] = frozenset()
    reject_data: frozenset[str] = frozenset()
    drop_after: int | None = None
    defer: frozenset[str] = frozenset()
    drop_before_reply: frozenset[int] = frozenset()
    delay_reply: Mapping[int, float] = field(default_factory=dict)
    implicit_tls: bool = False
    messages: list[ReceivedMessage] = field(default_factory=list)
    auth_attempts: list[AuthAttempt] = field(default_factory=list)
    dropped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """550 for the addresses to refuse; everyone else is added to the envelope."""
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.defer:
            return f"451 4.3.0 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the message (or refuse it), and drop the connection after the N-th."""
        if self.reject_data & {r.lower() for r in envelope.rcpt_tos}:
            return "554 5.7.1 Message rejected: content policy"
        raw = envelope.original_content or b""
        auth = session.auth_data
        received = ReceivedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=BytesParser(policy=policy.default).parsebytes(raw),
            peer=tuple(session.peer),  # type: ignore[arg-type]
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            tls=self.implicit_tls or session.ssl is not None,
        )
        with self._lock:
            self.messages.append(received)
            count = len(self.messages)
        if count in self.drop_before_reply:
            # Stored, then cut before the reply: abort() drops the socket at once, and
            # the 250 pushed after this returns goes nowhere.
            transport = server.transport
            assert transport is not None
            transport.abort()
            return "250 Message accepted for delivery"
        if count in self.delay_reply:
            await asyncio.sleep(self.delay_reply[count])
        if self.drop_after is not None and count >= self.drop_after and not self.dropped:
            self.dropped = True
            # After the 250 below is written (push() writes before the loop runs
            # this callback), so the N-th message counts as delivered.
            transport = server.transport
            assert transport is not None
            server.loop.call_soon(transport.close)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """aiosmtpd ``authenticator``: check LOGIN/PLAIN credentials against ``users``."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.users and self.users[login] == password
        with self._lock:
            self.auth_attempts.append(AuthAttempt(mechanism, login, ok, tuple(session.peer)))  # type: ignore[arg-type]
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class _EphemeralPortController(Controller):
    """A Controller on port 0: learns the port the OS chose before its self-test connection.

    Stock aiosmtpd 1.4.6 connects to ``self.port`` to trigger its lazy start,
    which fails for port 0.
    """

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)  # set by _run() before this is called
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpTestServer:
    """A running test server: where it listens, what it got, how to trust it."""

    host: str
    port: int
    security: str
    handler: RecordingHandler
    ca: trustme.CA | None
    ca_file: Path | None

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Messages accepted so far, in order."""
        return self.handler.messages

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        """Every AUTH exchange so far (smtplib may try PLAIN, then LOGIN, after a failure)."""
        return self.handler.auth_attempts

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this server's test CA."""
        context = ssl.create_default_context()
        if self.ca is not None:
            self.ca.configure_trust(context)
        return context

    def settings(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        from_address: str = "billing@example.com",
        timeout: float = 5,
        trust: bool = True,
    ) -> SmtpSettings:
        """``SmtpSettings`` pointing at this server; ``trust=False`` leaves the test CA out."""
        return SmtpSettings(
            host=self.host,
            port=self.port,
            security=self.security,
            user=user,
            from_address=from_address,
            password=password,
            timeout=timeout,
            ca_file=str(self.ca_file) if trust and self.ca_file is not None else None,
        )


@contextmanager
def smtp_server(
    security: str = "none",
    *,
    users: Mapping[str, str] | None = None,
    refuse: Iterable[str] = (),
    reject_data: Iterable[str] = (),
    drop_after: int | None = None,
    defer: Iterable[str] = (),
    drop_before_reply: Iterable[int] = (),
    delay_reply: Mapping[int, float] | None = None,
    handler_class: type[RecordingHandler] | None = None,
) -> Iterator[SmtpTestServer]:
    """Run a real SMTP server on 127.0.0.1 (a free port) for the ``with`` block.

    ``handler_class``: a subclass of :class:`RecordingHandler` with faults of its own (the fault soak's).
    """
    if security not in ("none", "starttls", "ssl"):
        raise ValueError(f"unknown security {security!r}")
    handler = (handler_class or RecordingHandler)(
        users=dict(users or {}),
        refuse=frozenset(a.lower() for a in refuse),
        reject_data=frozenset(a.lower() for a in reject_data),
        drop_after=drop_after,
        defer=frozenset(a.lower() for a in defer),
        drop_before_reply=frozenset(drop_before_reply),
        delay_reply=dict(delay_reply or {}),
        implicit_tls=security == "ssl",
    )
    smtp_kwargs: dict[str, Any] = {}
    if users:
        smtp_kwargs["authenticator"] = handler.authenticate
        # aiosmtpd hides AUTH until *STARTTLS* is done: it does not count implicit
        # TLS, so "ssl" must switch the check off too, and plain mode offers AUTH anyway.
        smtp_kwargs["auth_require_tls"] = security == "starttls"
        # A submission server refuses mail before login. Only with STARTTLS: with
        # auth_require_tls off (plain, implicit TLS) aiosmtpd warns that it is unsafe.
        smtp_kwargs["auth_required"] = security == "starttls"

    with tempfile.TemporaryDirectory(prefix="smtp-test-ca-") as tmp:
        ca: trustme.CA | None = None
        ca_file: Path | None = None
        server_context: ssl.SSLContext | None = None
        if security != "none":
            ca = trustme.CA()
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(HOST, "localhost").configure_cert(server_context)
            ca_file = Path(tmp) / "test-ca.pem"
            ca.cert_pem.write_to_path(str(ca_file))
        if security == "starttls":
            smtp_kwargs["tls_context"] = server_context
            smtp_kwargs["require_starttls"] = True

        controller = _EphemeralPortController(
            handler,
            hostname=HOST,
            port=0,
            ssl_context=server_context if security == "ssl" else None,
            **smtp_kwargs,
        )
        controller.start()
        try:
            yield SmtpTestServer(HOST, controller.port, security, handler, ca, ca_file)
        finally:
            controller.stop()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound then released)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
