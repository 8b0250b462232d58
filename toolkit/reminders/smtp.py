"""The SMTP side of reminder sending: settings, one connection, prebuilt messages.

The reminders module builds each reminder as an ``email.message.EmailMessage``
and writes it as an ``.eml`` preview; this module sends *those* messages, byte
for byte (see :func:`wire_bytes`), over one connection with one login per batch.

Settings come from the billing manual's ``[smtp]`` table, overridden by
environment variables (:func:`smtp_settings`). The password is never read from
the manual: it comes from ``RECEIVABLES_SMTP_PASSWORD`` or the system keyring.
A private certificate authority (a company relay, the test server) is trusted
with ``RECEIVABLES_SMTP_CA_FILE`` (a PEM file), or by handing :class:`Mailer`
an ``ssl.SSLContext``.

yagmail opens the connection (it is the library the design names), but only
that: see :meth:`Mailer.connect` for what it is kept away from and why.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    import yagmail

from toolkit.errors import (
    DeliveryUnknown,
    MailAuthError,
    MailConnectionError,
    MailError,
    RecipientRefused,
    SenderRefused,
)

SECURITY_MODES = ("ssl", "starttls", "none")
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
KEYRING_SERVICE = "receivables-toolkit"

ENV_HOST = "RECEIVABLES_SMTP_HOST"
ENV_PORT = "RECEIVABLES_SMTP_PORT"
ENV_SECURITY = "RECEIVABLES_SMTP_SECURITY"
ENV_USER = "RECEIVABLES_SMTP_USER"
ENV_PASSWORD = "RECEIVABLES_SMTP_PASSWORD"
ENV_FROM = "RECEIVABLES_FROM"
ENV_CA_FILE = "RECEIVABLES_SMTP_CA_FILE"

ENV_TIMEOUT = "RECEIVABLES_SMTP_TIMEOUT"
DEFAULT_TIMEOUT = 30.0

_DOT_AT_LINE_START = re.compile(rb"^\.", re.MULTILINE)
_CREDENTIALS_HINT = f"check {ENV_USER} / {ENV_PASSWORD}"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``password`` is left out of ``repr`` so it never lands in a log."""

    host: str
    port: int
    security: str  # "ssl" | "starttls" | "none"
    user: str | None
    from_address: str
    password: str | None = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT  # seconds to wait for each reply of the server
    # A PEM file of extra trusted certificate authorities (a company relay with a
    # private CA, the test server). It replaces the system store for this connection.
    ca_file: str | None = None

    @property
    def where(self) -> str:
        """``host:port``, the start of every message about this server."""
        return f"{self.host}:{self.port}"

    @property
    def envelope_from(self) -> str:
        """The bare address for ``MAIL FROM`` (``from_address`` may carry a display name)."""
        return parseaddr(self.from_address)[1]


def keyring_password(user: str) -> str | None:
    """The password stored in the system keyring for ``user``, or None.

    Never raises and never prompts: a missing keyring package, no usable backend
    (``keyring.backends.fail.Keyring``), a locked or broken backend all give None,
    and the caller then reports the missing password. (Some desktop backends may
    still show their own unlock dialog; nothing in keyring asks on the terminal.)
    """
    try:
        import keyring

        password = keyring.get_password(KEYRING_SERVICE, user)
    except Exception:  # backends raise anything, from dbus errors to RuntimeError
        return None
    return password or None


def smtp_settings(
    manual_smtp: Mapping[str, object],
    env: Mapping[str, str] = os.environ,
    *,
    source: str = "billing-manual.toml",
    default_from: str | None = None,
) -> SmtpSettings:
    """Build the SMTP settings from the manual's ``[smtp]`` table and the environment.

    The manual's ``host``, ``port``, ``security``, ``user`` and ``from`` are
    overridden by ``RECEIVABLES_SMTP_HOST``, ``RECEIVABLES_SMTP_PORT``,
    ``RECEIVABLES_SMTP_SECURITY``, ``RECEIVABLES_SMTP_USER`` and ``RECEIVABLES_FROM``;
    ``ca_file`` by ``RECEIVABLES_SMTP_CA_FILE``. Port 0 or none means the usual
    port for the security (465, 587, 25); an empty user means a relay without
    login; an empty ``from`` means ``default_from`` (the company email). The
    password comes from ``RECEIVABLES_SMTP_PASSWORD``, else the system keyring;
    a password in the manual is refused. ``source`` names the manual in errors.
    """
    if "password" in manual_smtp:
        # Checked first, and the value is never echoed: it must not reach a screen or log.
        raise MailError(
            f"{source}: [smtp] password is not accepted in the manual (the file is shared and copied); "
            f"set {ENV_PASSWORD} or store it in the system keyring (service '{KEYRING_SERVICE}')"
        )

    def pick(key: str, env_name: str) -> tuple[object, str]:
        """The value and where it came from: the environment wins over the manual."""
        if env.get(env_name, "").strip():
            return env[env_name].strip(), env_name
        return manual_smtp.get(key), f"{source}: [smtp] {key}"

    security = _security(*pick("security", ENV_SECURITY))
    host = _host(*pick("host", ENV_HOST), source)
    port = _port(*pick("port", ENV_PORT)) or DEFAULT_PORTS[security]
    user_value, _ = pick("user", ENV_USER)
    user = str(user_value).strip() if user_value not in (None, "") else None
    from_address = _from_address(*pick("from", ENV_FROM), default_from, source)
    timeout = _timeout(*pick("timeout", ENV_TIMEOUT))
    ca_file = _ca_file(*pick("ca_file", ENV_CA_FILE))
    password = _password(f"{host}:{port}", user, env, source)

    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        user=user,
        from_address=from_address,
        password=password,
        ca_file=ca_file,
        timeout=timeout,
    )


def _security(value: object, where: str) -> str:
    security = "starttls" if value in (None, "") else str(value).strip().lower()
    if security not in SECURITY_MODES:
        raise MailError(f"{where} {str(value)!r} is not one of {', '.join(SECURITY_MODES)}")
    return security


def _host(value: object, where: str, source: str) -> str:
    host = "" if value is None else str(value).strip()
    if not host:
        raise MailError(f"{source}: [smtp] host is not set; write the mail server's name there or set {ENV_HOST}")
    if any(ch.isspace() for ch in host) or host.count(":") == 1:
        # "smtp.example.com:587" is a common slip; the port has its own setting.
        raise MailError(f"{where} {host!r} is not a host name (put the port in 'port', not in the host)")
    return host


def _from_address(value: object, where: str, default_from: str | None, source: str) -> str:
    from_address = str(value).strip() if value not in (None, "") else (default_from or "").strip()
    if not from_address:
        raise MailError(f"{source}: [smtp] from is not set; write the sender address there or set {ENV_FROM}")
    if "@" not in parseaddr(from_address)[1]:
        raise MailError(f"{where} {from_address!r} is not an email address")
    return from_address


def _ca_file(value: object, where: str) -> str | None:
    ca_file = str(value) if value not in (None, "") else None
    if ca_file is not None and not os.path.isfile(ca_file):
        raise MailError(f"{where}: {ca_file} is not a file (it should be a PEM file of trusted certificates)")
    return ca_file


def _password(server: str, user: str | None, env: Mapping[str, str], source: str) -> str | None:
    """The login password: the environment, else the system keyring; none for a relay without login."""
    password = env.get(ENV_PASSWORD) or None
    if user is None:
        if password is not None:
            # A password with nobody to log in as is a half-done setup; relaying
            # anonymously instead would hide it until the server refuses the mail.
            raise MailError(
                f"{server}: {ENV_PASSWORD} is set but no user is; set {ENV_USER} (or [smtp] user in {source}), "
                f"or unset {ENV_PASSWORD} to send through a relay without login"
            )
        return None
    if password is None:
        password = keyring_password(user)
        if password is None:
            raise MailError(
                f"{server}: no password for user '{user}'; set {ENV_PASSWORD} "
                f"or store it in the system keyring: keyring set {KEYRING_SERVICE} {user}"
            )
    return password


def _port(value: object, where: str) -> int:
    """A port number from the manual (an int) or the environment (text); 0 = the usual one."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        number = -1
    elif isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            number = -1
    if not 0 <= number <= 65535:
        raise MailError(f"{where} {value!r} is not a port number (1-65535, or 0 for the usual one)")
    return number


def _timeout(value: object, where: str) -> float:
    """Seconds to wait for each reply (the manual's number or the environment's text); none = 30."""
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        seconds = float(str(value).strip()) if not isinstance(value, bool) else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:  # also refuses NaN
        raise MailError(f"{where} {value!r} is not a number of seconds (more than 0, at most 3600)")
    return seconds


def wire_bytes(msg: EmailMessage) -> bytes:
    """The exact bytes sent for ``msg``: the message with CRLF line ends, without Bcc.

    The caller's message keeps its Bcc (for the preview); only its MIME
    boundaries get fixed, as any flattening does. Bcc recipients get the message
    through the envelope only: the header would reveal them to everyone else.
    """
    # Flattening picks MIME boundaries and stores them in the message it flattens.
    # Do it on ``msg`` itself first, so every later flattening (the .eml preview,
    # this function again) gives the same boundaries; on the copy alone the
    # top-level boundary would be new each time.
    msg.as_bytes()
    # A shallow copy is enough: deleting a header rebinds the copy's header list.
    outgoing = copy.copy(msg)
    del outgoing["Bcc"]
    del outgoing["Resent-Bcc"]
    # SMTP needs CRLF; smtplib does not fix line ends of bytes (only of str).
    return outgoing.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def default_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context: the system store, or only ``ca_file`` when given.

    Always passed explicitly, because smtplib's own default context (what
    yagmail gets when given none) checks neither the certificate nor the host name.
    """
    return ssl.create_default_context(cafile=ca_file)


class Mailer:
    """One SMTP connection and one login for a batch of prebuilt messages.

    Use as a context manager::

        with Mailer(settings, messages_per_minute=20) as mailer:
            for msg, recipients in batch:
                try:
                    mailer.send(msg, recipients)
                except RecipientRefused as refused:
                    ...  # record this one as failed, carry on

    ``MailConnectionError`` from :meth:`send` means the connection is gone: the
    batch stops there. ``messages_per_minute`` (None or 0 = no limit) spaces the
    sends; ``sleep`` and ``clock`` are injectable so tests need not wait. ``pace``
    (``pace(where, interval)``, returning when a send may start) replaces this
    connection's own spacing with one shared by several processes.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        messages_per_minute: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        pace: Callable[[str, float], None] | None = None,
    ) -> None:
        if messages_per_minute is not None and messages_per_minute < 0:
            raise ValueError("messages_per_minute must not be negative")
        self.settings = settings
        self._interval = 60.0 / messages_per_minute if messages_per_minute else 0.0
        self._ssl_context = ssl_context
        self._sleep = sleep
        self._clock = clock
        # Shared by the workers of a batch (toolkit.batch.pace): spaces sends to this server across processes.
        self._pace = pace
        self._yag: yagmail.SMTP | None = None  # yagmail is imported when a connection is opened
        self._smtp: smtplib.SMTP | None = None
        self._lost = False
        self._last_send: float | None = None
        self.sent = 0

    # -- connection ---------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        """``host:port`` of the server."""
        return self.settings.where

    def connect(self) -> None:
        """Connect, secure the connection and log in (once); a no-op when connected.

        How yagmail is used, and why not more. Each setting answers a behaviour of
        yagmail 0.15 reported on its tracker (kootenpv/yagmail):

        * ``smtp_ssl`` and ``smtp_starttls`` are always both given: yagmail's defaults
          are implicit TLS, and STARTTLS whenever ``smtp_ssl=False`` (issue #254);
          ``security="none"`` is ``smtp_ssl=False, smtp_starttls=False``.
        * a verifying ``ssl.SSLContext`` is always passed: yagmail sets none, and
          without one smtplib checks neither the certificate nor the host (issue #120).
        * ``smtp_skip_login=True``, and the login is made here on the smtplib
          connection: given no password, yagmail looks in the keyring and then
          prompts, which hangs an unattended run (issues #16, #58, #6); a login error
          is also told apart from a connect error that way.
        * ``user`` is given as ``{address: address}`` with ``soft_email_validation=False``:
          a user name without "@" would otherwise get "@gmail.com" added (issues #22,
          #54, #160), and SMTP user names need not be addresses.
        * ``yag.send()`` is never called: it rebuilds the message from contents and
          retries a lost connection by itself (issue #66), which would hide an outcome
          the journal must record. The prebuilt bytes go over ``yag.smtp``
          (see :func:`_transaction`).
        """
        if self._smtp is not None:
            return
        s = self.settings
        try:
            context = self._ssl_context or default_ssl_context(s.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailConnectionError(
                f"{self.where}: cannot load the trusted certificates from {s.ca_file} ({_reason(exc)}); "
                f"check {ENV_CA_FILE}"
            ) from exc
        extra: dict[str, object] = {"timeout": s.timeout}
        if s.security == "ssl":
            extra["context"] = context  # forwarded to smtplib.SMTP_SSL
        name = s.user or s.envelope_from
        self._lost = False
        import yagmail  # here: with keyring, 40 ms that a run without --send does not need

        yag = yagmail.SMTP(
            user={name: name},
            password="",  # never None, see above; the real password never reaches yagmail
            host=s.host,
            port=s.port,
            smtp_ssl=s.security == "ssl",
            smtp_starttls={"context": context} if s.security == "starttls" else False,
            smtp_skip_login=True,
            soft_email_validation=False,
            **extra,
        )
        try:
            yag.login()  # with smtp_skip_login: connect (+ STARTTLS) only
            smtp = yag.smtp
            smtp.ehlo_or_helo_if_needed()
        except (smtplib.SMTPException, OSError) as exc:
            _quietly_close(yag)
            raise self._connect_error(exc) from exc
        if s.user is not None:
            try:
                smtp.login(s.user, s.password or "")
            # SMTPException derives from OSError: the SMTP clauses must come first.
            except smtplib.SMTPServerDisconnected as exc:
                _quietly_close(yag)
                raise self._connect_error(exc) from exc
            except smtplib.SMTPException as exc:
                _quietly_close(yag)
                raise self._auth_error(exc) from exc
            except OSError as exc:
                _quietly_close(yag)
                raise self._connect_error(exc) from exc
        self._yag, self._smtp = yag, smtp

    def close(self) -> None:
        """Say QUIT and close; safe to call twice or after the connection was lost."""
        yag, self._yag, self._smtp = self._yag, None, None
        if yag is not None:
            _quietly_close(yag)

    # -- sending ------------------------------------------------------------------------

    def send(self, msg: EmailMessage, recipients: Sequence[str]) -> None:
        """Send ``msg`` as built (see :func:`wire_bytes`) to the envelope ``recipients``.

        ``recipients`` is every address that gets the message: to + cc + bcc, bare
        addresses. Raises :class:`RecipientRefused` when the server refuses some or
        all of them (the connection stays usable), :class:`SenderRefused` when it
        refuses the sender, :class:`MailConnectionError` when the connection is lost
        (the batch must stop).
        """
        recipients = list(recipients)
        if not recipients:
            raise ValueError("send() needs at least one envelope recipient")
        bad = [r for r in recipients if not _plausible_address(r)]
        if bad:
            raise RecipientRefused(
                f"{self.where}: not sent: {', '.join(repr(b) for b in bad)} is not an email address",
                {b: (None, "not an email address; not sent") for b in bad},
            )
        smtp = self._connection()
        data = wire_bytes(msg)
        sender = self.settings.envelope_from
        options: list[str] = []
        if any(byte >= 0x80 for byte in data) and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(a.isascii() for a in (sender, *recipients)):
            if not smtp.has_extn("smtputf8"):
                wide = [a for a in recipients if not a.isascii()] or [sender]
                raise RecipientRefused(
                    f"{self.where}: not sent to {', '.join(wide)}: the address is not plain ASCII "
                    "and the server does not offer SMTPUTF8",
                    {a: (None, "needs SMTPUTF8; not sent") for a in wide},
                )
            options.append("SMTPUTF8")

        self._wait_for_rate_limit()
        try:
            refused = _transaction(smtp, sender, recipients, data, options)
        except _OutcomeUnknown as unknown:
            raise self._unknown_error(recipients, unknown) from unknown.cause
        except smtplib.SMTPRecipientsRefused as exc:
            replies = {addr: _reply(code, text) for addr, (code, text) in exc.recipients.items()}
            if any(code == 421 for code, _ in replies.values()):
                raise self._lost_error(recipients, "the server closed the connection (421)") from exc
            raise RecipientRefused(self._refused_message(replies), replies) from exc
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code == 421:
                raise self._lost_error(recipients, "the server closed the connection (421)") from exc
            raise SenderRefused(
                f"{self.where}: the server refused the sender {sender!r}: {_reply_text(exc.smtp_code, exc.smtp_error)}"
                f" — check [smtp] from / {ENV_FROM} (it usually must be the login's own address)"
            ) from exc
        except _DataRefused as exc:
            if exc.code == 421:
                raise self._lost_error(recipients, "the server closed the connection (421)") from exc
            code, text = _reply(exc.code, exc.text)
            replies = {**exc.refused, **{addr: (code, text) for addr in recipients if addr not in exc.refused}}
            raise RecipientRefused(
                f"{self.where}: message to {', '.join(recipients)} refused: {code} {text}", replies
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # SMTPServerDisconnected, a socket error, or something unexpected
            # before the message was complete (e.g. a bad HELO reply): it was not
            # delivered, and the connection is gone or in an unknown state, so it
            # is not reused. (SMTPException is an OSError; the specific SMTP
            # clauses above come first for that reason.)
            raise self._lost_error(recipients, _reason(exc)) from exc
        self.sent += 1
        if refused:
            replies = {addr: _reply(code, text) for addr, (code, text) in refused.items()}
            accepted = [r for r in recipients if r not in refused]
            raise RecipientRefused(
                self._refused_message(replies) + f" (delivered to {', '.join(accepted)})", replies, accepted
            )

    def _unknown_error(self, recipients: Sequence[str], unknown: _OutcomeUnknown) -> DeliveryUnknown:
        accepted = [r for r in recipients if r not in unknown.refused]
        self._lost_error(accepted, _reason(unknown.cause))  # the connection is gone all the same
        self.sent += 1  # counted as sent: it may have arrived
        return DeliveryUnknown(
            self._redact(
                f"{self.where}: the connection was lost after the whole message to {', '.join(accepted)} was "
                f"handed over, before the server confirmed it ({_reason(unknown.cause)}); it may have arrived"
            ),
            accepted,
            {addr: _reply(code, text) for addr, (code, text) in unknown.refused.items()},
        )

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            if self._lost:
                raise MailConnectionError(
                    f"{self.where}: not connected (the connection was lost earlier); "
                    "run the command again to send the rest"
                )
            self.connect()
        assert self._smtp is not None
        return self._smtp

    def _wait_for_rate_limit(self) -> None:
        # Spaced from the start of one send to the start of the next, so time spent
        # talking to the server counts towards the wait.
        if self._pace is not None:
            if self._interval:
                self._pace(self.where, self._interval)
            return
        if self._interval and self._last_send is not None:
            remaining = self._last_send + self._interval - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last_send = self._clock()

    # -- error messages -----------------------------------------------------------------

    def _redact(self, text: str) -> str:
        password = self.settings.password
        return text.replace(password, "***") if password else text

    def _refused_message(self, replies: Mapping[str, tuple[int | None, str]]) -> str:
        parts = [f"{addr} ({code} {text})" for addr, (code, text) in replies.items()]
        noun = "recipient" if len(parts) == 1 else "recipients"
        return f"{self.where}: {noun} refused: {', '.join(parts)}"

    def _lost_error(self, recipients: Sequence[str], reason: str) -> MailConnectionError:
        self._lost = True
        # No QUIT: the server is gone or not answering, and waiting for its reply
        # could cost another full timeout.
        yag, self._yag, self._smtp = self._yag, None, None
        if yag is not None:
            _quietly_close(yag, say_quit=False)
        return MailConnectionError(
            self._redact(
                f"{self.where}: connection lost while sending to {', '.join(recipients)} ({reason}); "
                f"the batch stopped after {self.sent} message(s) — run the command again to send the rest"
            )
        )

    def _connect_error(self, exc: BaseException) -> MailError:
        s = self.settings
        where = self.where
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailConnectionError(
                f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                f"if it uses a private certificate authority set {ENV_CA_FILE} to its PEM file"
            )
        if isinstance(exc, ssl.SSLError):
            hint = 'use security = "ssl" for port 465, "starttls" for 587'
            return MailConnectionError(f"{where}: TLS failed ({exc.reason or exc}); {hint}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return MailConnectionError(
                f'{where}: the server does not offer STARTTLS; use security = "ssl" if it expects TLS '
                'from the start, or "none" only for a trusted relay on your own network'
            )
        if isinstance(exc, smtplib.SMTPConnectError):
            reply = _reply_text(exc.smtp_code, exc.smtp_error)
            return MailConnectionError(f"{where}: the server refused the session: {reply}")
        if isinstance(exc, socket.gaierror):
            return MailConnectionError(
                f"{where}: could not connect (host not found: {exc.strerror or exc}); check [smtp] host / {ENV_HOST}"
            )
        if isinstance(exc, ConnectionRefusedError):
            return MailConnectionError(
                f"{where}: could not connect (connection refused); check [smtp] host and port / {ENV_HOST}, {ENV_PORT}"
            )
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            # smtplib turns a timeout while reading the greeting into SMTPServerDisconnected.
            hint = ' (a port-465 server expects security = "ssl")' if s.security != "ssl" else ""
            return MailConnectionError(f"{where}: could not connect (no answer within {s.timeout:g}s){hint}")
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return MailConnectionError(
                f"{where}: the server closed the connection while it was being set up ({_reason(exc)})"
            )
        return MailConnectionError(self._redact(f"{where}: could not connect ({_reason(exc)})"))

    def _auth_error(self, exc: smtplib.SMTPException) -> MailAuthError:
        s = self.settings
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            hint = ""
            if s.security == "none":
                hint = ' (many servers offer it only after STARTTLS: security = "starttls")'
            return MailAuthError(
                f"{self.where}: the server does not offer login (AUTH), so user '{s.user}' cannot log in{hint}; "
                f"leave [smtp] user / {ENV_USER} empty to send through it without login"
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            detail = _reply_text(exc.smtp_code, exc.smtp_error)
        else:
            detail = _reason(exc)
        return MailAuthError(
            self._redact(f"{self.where}: failed to authenticate user '{s.user}' ({detail}) — {_CREDENTIALS_HINT}")
        )


class _OutcomeUnknown(Exception):
    """The message was complete on the wire; the connection failed before the final reply."""

    def __init__(self, cause: BaseException, refused: Mapping[str, tuple[int, bytes]]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.refused = dict(refused)


class _DataRefused(Exception):
    """The server answered DATA, or the end of the message, with a refusal (a definite "not sent")."""

    def __init__(self, code: int, text: bytes, refused: Mapping[str, tuple[int, bytes]]) -> None:
        super().__init__(f"{code} {text!r}")
        self.code, self.text = code, text
        self.refused = {addr: _reply(c, t) for addr, (c, t) in refused.items()}


def _transaction(
    smtp: smtplib.SMTP, sender: str, recipients: Sequence[str], data: bytes, options: Sequence[str]
) -> dict[str, tuple[int, bytes]]:
    """``smtplib.SMTP.sendmail``, step by step, so that an unknown outcome is told apart.

    Returns the recipients refused at RCPT (as ``sendmail`` does) and raises its
    exceptions for a refusal before DATA. A failure while the message is still
    being written is a plain ``OSError`` / ``SMTPServerDisconnected`` (not sent:
    a server drops an unfinished message). Once the final ``.`` has gone out, a
    dropped connection or a timeout raises :class:`_OutcomeUnknown`; a 4xx/5xx
    answer to DATA or to the message raises :class:`_DataRefused`.
    """
    smtp.ehlo_or_helo_if_needed()
    mail_options = list(options)
    if smtp.does_esmtp and smtp.has_extn("size"):
        mail_options.insert(0, f"size={len(data)}")
    code, reply = smtp.mail(sender, mail_options)
    if code != 250:
        if code == 421:
            smtp.close()
        else:
            _rset(smtp)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for address in recipients:
        code, reply = smtp.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, reply)
        if code == 421:
            smtp.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _rset(smtp)
        raise smtplib.SMTPRecipientsRefused(refused)
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        _rset(smtp)
        raise _DataRefused(code, reply, refused)
    wire = _DOT_AT_LINE_START.sub(b"..", data)  # dot-stuffing (RFC 5321 4.5.2)
    if not wire.endswith(b"\r\n"):
        wire += b"\r\n"
    smtp.send(wire + b".\r\n")
    try:
        code, reply = smtp.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        raise _OutcomeUnknown(exc, refused) from exc
    if code != 250:
        raise _DataRefused(code, reply, refused)
    return refused


def _rset(smtp: smtplib.SMTP) -> None:
    """Reset the transaction after a refusal; a server already gone is found out by the next send."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.rset()


def _quietly_close(yag: yagmail.SMTP, *, say_quit: bool = True) -> None:
    """QUIT if asked and the server still listens, then drop the socket, whatever happens."""
    yag.is_closed = True  # also stops yagmail's __del__ from trying again
    smtp = yag.smtp
    if smtp is None:
        return
    try:
        if say_quit:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def _plausible_address(address: str) -> bool:
    # Only what would break the SMTP command itself; the server judges the rest.
    return (
        "@" in address
        and not address.startswith("@")
        and not address.endswith("@")
        and not any(ch.isspace() or ch in "<>,;" for ch in address)
    )


def _reply(code: int, text: bytes | str) -> tuple[int, str]:
    return code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _reply_text(code: int, text: bytes | str) -> str:
    number, message = _reply(code, text)
    return f"{number} {message}"


def _reason(exc: BaseException) -> str:
    """A short one-line reason: the OS error text, else the exception's message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
