"""toolkit.reminders.smtp against a real SMTP server (aiosmtpd on 127.0.0.1, see tests/smtp_server.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import yagmail.sender

from tests.conftest import FakeTime
from tests.reminder_kit import never_prompt
from tests.smtp_server import SmtpTestServer, free_port, smtp_server
from toolkit.errors import (
    DeliveryUnknown,
    MailAuthError,
    MailConnectionError,
    MailError,
    RecipientRefused,
    ToolkitError,
)
from toolkit.reminders.smtp import KEYRING_SERVICE, Mailer, SmtpSettings, keyring_password, smtp_settings, wire_bytes

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "billing", "correct horse battery staple"
FROM = "billing@example.com"
CUSTOMER, MANAGER, ARCHIVE = "customer@example.org", "manager@example.com", "archive@example.com"


@pytest.fixture(autouse=True)
def _never_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to ask on the terminal (yagmail's password fallback too) fails the test."""
    never_prompt(monkeypatch)

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("something tried to prompt on the terminal")

    monkeypatch.setattr(yagmail.sender, "handle_password", refuse)


@pytest.fixture
def plain_server() -> Iterator[SmtpTestServer]:
    with smtp_server("none") as server:
        yield server


@pytest.fixture
def auth_server() -> Iterator[SmtpTestServer]:
    with smtp_server("starttls", users={USER: PASSWORD}) as server:
        yield server


def reminder(number: int = 1, *, bcc: str | None = ARCHIVE) -> EmailMessage:
    """A message shaped like a reminder: text + HTML, a PDF, non-ASCII text, Cc and Bcc."""
    msg = EmailMessage()
    msg["From"] = f"Cobrança ACME <{FROM}>"
    msg["To"] = CUSTOMER
    msg["Cc"] = MANAGER
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = f"Fatura nº {number} vencida — lembrete"
    msg["Message-ID"] = f"<reminder-{number}@example.com>"
    msg.set_content(f"Olá,\n\na fatura {number} venceu. Valor: R$ 1.234,56.\n.\nLinha começando com ponto.\n")
    msg.add_alternative(f"<p>Olá, a fatura <b>{number}</b> venceu.</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 fake\r\n\x00\xff", maintype="application", subtype="pdf", filename="fatura.pdf")
    return msg


def envelope(msg: EmailMessage) -> list[str]:
    return [a.strip() for h in ("To", "Cc", "Bcc") for a in str(msg.get(h, "")).split(",") if a.strip()]


# -- sending against the real server ---------------------------------------------------------


def test_plain_relay_without_login(plain_server: SmtpTestServer) -> None:
    """With no user, the mailer relays through a server without AUTH and never logs in."""
    with Mailer(plain_server.settings()) as mailer:
        mailer.send(reminder(), [CUSTOMER])
    [got] = plain_server.messages
    assert got.mail_from == FROM
    assert got.rcpt_tos == (CUSTOMER,)
    assert got.login is None and not got.tls
    assert plain_server.auth_attempts == []


def test_starttls_with_auth_delivers(auth_server: SmtpTestServer) -> None:
    """STARTTLS with a trusted CA file and the right password delivers over TLS as that user."""
    with Mailer(auth_server.settings(user=USER, password=PASSWORD)) as mailer:
        mailer.send(reminder(), [CUSTOMER])
    [got] = auth_server.messages
    assert got.tls and got.login == USER
    assert got.message["Subject"] == "Fatura nº 1 vencida — lembrete"


def test_implicit_tls_with_auth_delivers() -> None:
    """security = "ssl" speaks TLS from the first byte and logs in."""
    with smtp_server("ssl", users={USER: PASSWORD}) as server:
        with Mailer(server.settings(user=USER, password=PASSWORD)) as mailer:
            mailer.send(reminder(), [CUSTOMER])
        [got] = server.messages
        assert got.tls and got.login == USER


def test_ssl_context_argument_is_used(auth_server: SmtpTestServer) -> None:
    """An ssl.SSLContext given to Mailer replaces the CA file for trusting the server."""
    settings = auth_server.settings(user=USER, password=PASSWORD, trust=False)
    with Mailer(settings, ssl_context=auth_server.client_ssl_context()) as mailer:
        mailer.send(reminder(), [CUSTOMER])
    assert len(auth_server.messages) == 1


def test_wrong_password_names_server_and_user_not_password(auth_server: SmtpTestServer) -> None:
    """A refused login is a MailAuthError naming host:port and user, never the password."""
    wrong = "Tr0ub4dor&3-wrong"
    with pytest.raises(MailAuthError) as caught:
        Mailer(auth_server.settings(user=USER, password=wrong)).connect()
    message = str(caught.value)
    assert message.startswith(f"127.0.0.1:{auth_server.port}: failed to authenticate user '{USER}'")
    assert "RECEIVABLES_SMTP_PASSWORD" in message
    assert wrong not in message and PASSWORD not in message
    assert isinstance(caught.value, ToolkitError)
    assert auth_server.messages == []
    assert auth_server.auth_attempts and not any(a.success for a in auth_server.auth_attempts)


def test_exact_message_bytes_arrive_and_bcc_stays_hidden(plain_server: SmtpTestServer) -> None:
    """The server receives exactly wire_bytes(msg): same headers and parts, Bcc only in the envelope."""
    msg = reminder()
    expected = wire_bytes(msg)
    with Mailer(plain_server.settings()) as mailer:
        mailer.send(msg, envelope(msg))
    [got] = plain_server.messages
    assert got.raw == expected
    assert got.rcpt_tos == (CUSTOMER, MANAGER, ARCHIVE)
    received = got.message
    assert received["Bcc"] is None and ARCHIVE.encode() not in got.raw
    assert msg["Bcc"] == ARCHIVE  # the caller's message (the preview) keeps it
    for header in ("From", "To", "Cc", "Subject", "Message-ID"):
        assert received[header] == msg[header]
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None and html is not None
    # An 8bit part parsed from CRLF bytes keeps the CRs in its content.
    sent_text = msg.get_body(("plain",))
    assert sent_text is not None
    assert text.get_content().replace("\r\n", "\n") == sent_text.get_content()
    assert "<b>1</b>" in html.get_content()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "fatura.pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake\r\n\x00\xff"


def test_wire_bytes_is_stable_and_crlf() -> None:
    """wire_bytes gives the same bytes every call (fixed MIME boundaries), CRLF only, no Bcc line."""
    msg = reminder()
    first = wire_bytes(msg)
    assert first == wire_bytes(msg)
    assert first.replace(b"\r\n", b"").count(b"\n") == 0
    assert b"\nBcc:" not in first and not first.startswith(b"Bcc:")
    # The .eml preview written after sending has the same boundaries.
    assert msg.as_bytes().replace(b"\n", b"\r\n").replace(b"Bcc: " + ARCHIVE.encode() + b"\r\n", b"") == first


def test_one_connection_and_one_login_for_a_batch(auth_server: SmtpTestServer) -> None:
    """Several messages go over one connection with a single AUTH."""
    with Mailer(auth_server.settings(user=USER, password=PASSWORD)) as mailer:
        for number in range(1, 4):
            mailer.send(reminder(number), [CUSTOMER])
        assert mailer.sent == 3
    assert len(auth_server.messages) == 3
    assert len(auth_server.auth_attempts) == 1
    assert len({m.peer for m in auth_server.messages}) == 1


def test_refused_recipient_does_not_break_the_batch() -> None:
    """A 550 on RCPT raises RecipientRefused (address + reply) and the next message still goes."""
    with smtp_server("starttls", users={USER: PASSWORD}, refuse=["gone@example.org"]) as server:
        with Mailer(server.settings(user=USER, password=PASSWORD)) as mailer:
            mailer.send(reminder(1), [CUSTOMER])
            with pytest.raises(RecipientRefused) as caught:
                mailer.send(reminder(2), ["gone@example.org"])
            mailer.send(reminder(3), [CUSTOMER])
        refused = caught.value
        assert refused.address == "gone@example.org" and refused.code == 550
        assert "User unknown" in refused.reply
        assert str(refused).startswith(f"127.0.0.1:{server.port}: recipient refused: gone@example.org (550")
        delivered = [m.message["Message-ID"] for m in server.messages]
        assert delivered == ["<reminder-1@example.com>", "<reminder-3@example.com>"]
        assert len({m.peer for m in server.messages}) == 1 and len(server.auth_attempts) == 1


def test_partly_refused_message_reports_who_got_it() -> None:
    """When only the cc is refused, the message is delivered to the rest and the error says so."""
    with smtp_server("none", refuse=[MANAGER]) as server:
        with Mailer(server.settings()) as mailer, pytest.raises(RecipientRefused) as caught:
            mailer.send(reminder(bcc=None), [CUSTOMER, MANAGER])
        assert caught.value.address == MANAGER
        assert caught.value.accepted == (CUSTOMER,)
        assert f"delivered to {CUSTOMER}" in str(caught.value)
        [got] = server.messages
        assert got.rcpt_tos == (CUSTOMER,)


def test_message_refused_at_data_does_not_break_the_batch() -> None:
    """A 5xx reply to DATA raises RecipientRefused for its recipients; the next message goes."""
    with smtp_server("none", reject_data=["spamtrap@example.org"]) as server:
        with Mailer(server.settings()) as mailer:
            with pytest.raises(RecipientRefused) as caught:
                mailer.send(reminder(1), ["spamtrap@example.org"])
            mailer.send(reminder(2), [CUSTOMER])
        assert caught.value.code == 554
        assert [m.message["Message-ID"] for m in server.messages] == ["<reminder-2@example.com>"]


def test_malformed_address_is_refused_without_asking_the_server(plain_server: SmtpTestServer) -> None:
    """An address that would break the SMTP command is refused locally (code None); the batch goes on."""
    with Mailer(plain_server.settings()) as mailer:
        with pytest.raises(RecipientRefused) as caught:
            mailer.send(reminder(1), ["Customer <customer@example.org>"])
        mailer.send(reminder(2), [CUSTOMER])
    assert caught.value.code is None
    assert len(plain_server.messages) == 1


def test_dropped_connection_stops_the_batch() -> None:
    """A connection lost mid-batch is a MailConnectionError saying the batch stopped; no silent reconnect."""
    with smtp_server("starttls", users={USER: PASSWORD}, drop_after=1) as server:
        with Mailer(server.settings(user=USER, password=PASSWORD)) as mailer:
            mailer.send(reminder(1), [CUSTOMER])
            with pytest.raises(MailConnectionError) as caught:
                mailer.send(reminder(2), [CUSTOMER])
            with pytest.raises(MailConnectionError, match="not connected"):
                mailer.send(reminder(3), [CUSTOMER])
        message = str(caught.value)
        assert message.startswith(f"127.0.0.1:{server.port}: connection lost while sending to {CUSTOMER}")
        assert "batch stopped after 1 message" in message and "run the command again" in message
        assert PASSWORD not in message
        assert len(server.messages) == 1 and len(server.auth_attempts) == 1


def test_drop_after_the_message_was_stored_is_an_unknown_outcome() -> None:
    """The server stores the message and cuts the line before its 250: DeliveryUnknown, never "not sent"."""
    with smtp_server("none", drop_before_reply=[2]) as server:
        with Mailer(server.settings()) as mailer:
            mailer.send(reminder(1), [CUSTOMER])
            with pytest.raises(DeliveryUnknown) as caught:
                mailer.send(reminder(2, bcc=None), [CUSTOMER, MANAGER])
            assert mailer.sent == 2  # counted as sent: it may have arrived
            with pytest.raises(MailConnectionError, match="not connected"):
                mailer.send(reminder(3), [CUSTOMER])
        assert caught.value.accepted == (CUSTOMER, MANAGER)
        assert "may have arrived" in str(caught.value) and "run the command again" not in str(caught.value)
        assert [m.message["Message-ID"] for m in server.messages] == [
            "<reminder-1@example.com>",
            "<reminder-2@example.com>",
        ]


def test_final_reply_later_than_the_timeout_is_an_unknown_outcome() -> None:
    """A 250 that comes after the client's timeout: DeliveryUnknown (the server has the message)."""
    with smtp_server("none", delay_reply={1: 2.0}) as server:
        with Mailer(server.settings(timeout=0.4)) as mailer, pytest.raises(DeliveryUnknown) as caught:
            mailer.send(reminder(1), [CUSTOMER])
        assert caught.value.accepted == (CUSTOMER,)
        assert len(server.messages) == 1


def test_a_deferred_recipient_is_reported_apart_from_the_accepted_cc() -> None:
    """451 at RCPT for the customer, 250 for the cc: RecipientRefused names 451 and who did get it."""
    with smtp_server("none", defer=[CUSTOMER]) as server:
        with Mailer(server.settings()) as mailer, pytest.raises(RecipientRefused) as caught:
            mailer.send(reminder(1, bcc=None), [CUSTOMER, MANAGER])
        assert caught.value.refused[CUSTOMER][0] == 451
        assert caught.value.accepted == (MANAGER,)
        assert [m.rcpt_tos for m in server.messages] == [(MANAGER,)]


def test_timeout_setting_from_the_manual_and_the_environment() -> None:
    """[smtp] timeout sets the wait for each reply; RECEIVABLES_SMTP_TIMEOUT overrides it; NaN and 0 are refused."""
    manual = {"host": "smtp.example.com", "from": FROM, "security": "none", "timeout": 2.5}
    assert smtp_settings(manual, {}).timeout == 2.5
    assert smtp_settings(manual, {"RECEIVABLES_SMTP_TIMEOUT": "0.5"}).timeout == 0.5
    assert smtp_settings({**manual, "timeout": ""}, {}).timeout == 30
    for bad in (0, float("nan"), -1, "soon"):
        with pytest.raises(MailError, match=r"timeout .* is not a number of seconds"):
            smtp_settings({**manual, "timeout": bad}, {})


def test_connection_refused_is_a_one_line_error() -> None:
    """Nothing listening on the port gives one clear line starting with host:port."""
    port = free_port()
    settings = SmtpSettings("127.0.0.1", port, "none", None, FROM, None, timeout=5)
    with pytest.raises(MailConnectionError) as caught:
        Mailer(settings).connect()
    message = str(caught.value)
    assert message.startswith(f"127.0.0.1:{port}: could not connect (connection refused)")
    assert "\n" not in message


def test_untrusted_certificate_is_refused(auth_server: SmtpTestServer) -> None:
    """The server certificate is verified: an unknown CA fails and points at RECEIVABLES_SMTP_CA_FILE."""
    with pytest.raises(MailConnectionError) as caught:
        Mailer(auth_server.settings(user=USER, password=PASSWORD, trust=False)).connect()
    assert "not trusted" in str(caught.value) and "RECEIVABLES_SMTP_CA_FILE" in str(caught.value)
    assert auth_server.auth_attempts == []


def test_implicit_tls_against_a_plain_server_is_explained(plain_server: SmtpTestServer) -> None:
    """security = "ssl" on a plain port fails fast with a hint about ssl vs starttls."""
    settings = dataclasses.replace(plain_server.settings(), security="ssl")
    with pytest.raises(MailConnectionError, match=r"TLS failed .*\"starttls\" for 587"):
        Mailer(settings).connect()


def test_starttls_against_an_implicit_tls_port_times_out_with_a_hint() -> None:
    """STARTTLS against a TLS-from-the-start port gets no greeting: a timeout that suggests "ssl"."""
    with smtp_server("ssl") as server:
        settings = dataclasses.replace(server.settings(timeout=0.5), security="starttls")
        with pytest.raises(MailConnectionError) as caught:
            Mailer(settings).connect()
    assert str(caught.value) == (
        f"127.0.0.1:{server.port}: could not connect (no answer within 0.5s)"
        ' (a port-465 server expects security = "ssl")'
    )


def test_login_on_a_server_without_auth_is_explained(plain_server: SmtpTestServer) -> None:
    """A user set for a relay that offers no AUTH is a MailAuthError saying to leave the user empty."""
    with pytest.raises(MailAuthError, match="does not offer login"):
        Mailer(plain_server.settings(user=USER, password=PASSWORD)).connect()


# -- rate limit ----------------------------------------------------------------------------------


def test_rate_limit_spaces_the_sends(plain_server: SmtpTestServer) -> None:
    """At 20 messages a minute, each send after the first waits out the rest of its 3 seconds."""
    fake = FakeTime(1000.0)
    with Mailer(plain_server.settings(), messages_per_minute=20, sleep=fake.sleep, clock=fake.clock) as mailer:
        mailer.send(reminder(1), [CUSTOMER])
        mailer.send(reminder(2), [CUSTOMER])
        fake.now += 1.0  # building the next reminder took a second
        mailer.send(reminder(3), [CUSTOMER])
        fake.now += 10.0  # a long pause: no wait at all
        mailer.send(reminder(4), [CUSTOMER])
    assert fake.sleeps == [pytest.approx(3.0), pytest.approx(2.0)]
    assert len(plain_server.messages) == 4


@pytest.mark.parametrize("limit", [None, 0])
def test_no_rate_limit_never_sleeps(plain_server: SmtpTestServer, limit: int | None) -> None:
    """messages_per_minute None or 0 (the manual's "no limit") sends without waiting."""
    fake = FakeTime(1000.0)
    with Mailer(plain_server.settings(), messages_per_minute=limit, sleep=fake.sleep, clock=fake.clock) as mailer:
        for number in range(3):
            mailer.send(reminder(number), [CUSTOMER])
    assert fake.sleeps == []


# -- settings --------------------------------------------------------------------------------------

MANUAL_DEFAULTS: dict[str, object] = {"host": "localhost", "port": 0, "security": "starttls", "user": "", "from": ""}


def test_settings_from_the_manual_defaults() -> None:
    """The starter manual's [smtp] gives localhost:587 STARTTLS, no login, the company email as sender."""
    settings = smtp_settings(MANUAL_DEFAULTS, {}, default_from=FROM)
    assert (settings.host, settings.port, settings.security) == ("localhost", 587, "starttls")
    assert settings.user is None and settings.password is None
    assert settings.from_address == FROM


@pytest.mark.parametrize(("security", "port"), [("ssl", 465), ("starttls", 587), ("none", 25)])
def test_default_port_follows_security(security: str, port: int) -> None:
    """Port 0 means the usual port for the security setting."""
    assert smtp_settings({**MANUAL_DEFAULTS, "security": security}, {}, default_from=FROM).port == port


def test_environment_overrides_the_manual() -> None:
    """RECEIVABLES_SMTP_* and RECEIVABLES_FROM win over the manual's [smtp] values."""
    manual = {"host": "smtp.old.example", "port": 25, "security": "none", "user": "old", "from": "old@example.com"}
    env = {
        "RECEIVABLES_SMTP_HOST": "smtp.example.com",
        "RECEIVABLES_SMTP_PORT": "2525",
        "RECEIVABLES_SMTP_SECURITY": "SSL",
        "RECEIVABLES_SMTP_USER": "ar-bot",
        "RECEIVABLES_SMTP_PASSWORD": PASSWORD,
        "RECEIVABLES_FROM": "Receivables <ar@example.com>",
    }
    settings = smtp_settings(manual, env)
    assert settings == SmtpSettings("smtp.example.com", 2525, "ssl", "ar-bot", "Receivables <ar@example.com>", PASSWORD)
    assert settings.envelope_from == "ar@example.com"
    assert PASSWORD not in repr(settings)


def test_password_in_the_manual_is_refused() -> None:
    """A password in [smtp] is an error pointing at the env var and keyring, without echoing it."""
    with pytest.raises(MailError) as caught:
        smtp_settings({**MANUAL_DEFAULTS, "user": USER, "password": "hunter2"}, {}, default_from=FROM)
    message = str(caught.value)
    assert message.startswith("billing-manual.toml: [smtp] password is not accepted")
    assert "RECEIVABLES_SMTP_PASSWORD" in message and "keyring" in message
    assert "hunter2" not in message


def test_unknown_security_names_the_setting() -> None:
    """An unknown security value names the file and key (or the env var) and lists the choices."""
    with pytest.raises(MailError) as caught:
        smtp_settings({**MANUAL_DEFAULTS, "security": "tls1"}, {}, default_from=FROM)
    assert str(caught.value) == "billing-manual.toml: [smtp] security 'tls1' is not one of ssl, starttls, none"
    with pytest.raises(MailError, match=r"^RECEIVABLES_SMTP_SECURITY 'tls' is not one of"):
        smtp_settings(MANUAL_DEFAULTS, {"RECEIVABLES_SMTP_SECURITY": "tls"}, default_from=FROM)


def test_bad_port_from_the_environment() -> None:
    """A port that is not a number is an error naming RECEIVABLES_SMTP_PORT."""
    with pytest.raises(MailError, match=r"^RECEIVABLES_SMTP_PORT 'smtp' is not a port number"):
        smtp_settings(MANUAL_DEFAULTS, {"RECEIVABLES_SMTP_PORT": "smtp"}, default_from=FROM)


def test_missing_sender_is_an_error() -> None:
    """With no from in the manual, the environment or the company email, the error names RECEIVABLES_FROM."""
    with pytest.raises(MailError, match="RECEIVABLES_FROM"):
        smtp_settings(MANUAL_DEFAULTS, {})


def test_user_without_password_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user with no password in the environment or keyring is an error naming RECEIVABLES_SMTP_PASSWORD."""
    monkeypatch.setattr("keyring.get_password", lambda service, user: None)
    with pytest.raises(MailError) as caught:
        smtp_settings({**MANUAL_DEFAULTS, "host": "smtp.example.com", "user": USER}, {}, default_from=FROM)
    assert str(caught.value).startswith(f"smtp.example.com:587: no password for user '{USER}'")
    assert "RECEIVABLES_SMTP_PASSWORD" in str(caught.value)


def test_password_without_user_is_an_error() -> None:
    """RECEIVABLES_SMTP_PASSWORD with no user is a half-done setup, not an anonymous relay."""
    with pytest.raises(MailError, match="RECEIVABLES_SMTP_PASSWORD is set but no user"):
        smtp_settings(MANUAL_DEFAULTS, {"RECEIVABLES_SMTP_PASSWORD": PASSWORD}, default_from=FROM)


def test_password_comes_from_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the env var, the password is looked up in the keyring under receivables-toolkit/<user>."""
    asked: list[tuple[str, str]] = []

    def fake_get_password(service: str, user: str) -> str:
        asked.append((service, user))
        return "from-the-keyring"

    monkeypatch.setattr("keyring.get_password", fake_get_password)
    settings = smtp_settings({**MANUAL_DEFAULTS, "user": USER}, {}, default_from=FROM)
    assert settings.password == "from-the-keyring"
    assert asked == [(KEYRING_SERVICE, USER)]


def test_env_password_wins_over_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """RECEIVABLES_SMTP_PASSWORD is used as is; the keyring is not asked."""
    monkeypatch.setattr("keyring.get_password", lambda service, user: pytest.fail("keyring asked"))
    env = {"RECEIVABLES_SMTP_PASSWORD": PASSWORD}
    assert smtp_settings({**MANUAL_DEFAULTS, "user": USER}, env, default_from=FROM).password == PASSWORD


def test_keyring_errors_mean_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken keyring backend gives None instead of an exception."""

    def broken(service: str, user: str) -> str:
        raise RuntimeError("dbus: org.freedesktop.secrets not available")

    monkeypatch.setattr("keyring.get_password", broken)
    assert keyring_password(USER) is None


def test_keyring_without_backend_never_prompts() -> None:
    """With keyring's fail backend, the lookup returns None at once, with no terminal to prompt on."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("RECEIVABLES_SMTP_PASSWORD", None)
    code = (
        "from toolkit.errors import MailError\n"
        "from toolkit.reminders.smtp import keyring_password, smtp_settings\n"
        "print(keyring_password('billing'))\n"
        "try:\n"
        "    smtp_settings({'host': 'h', 'user': 'billing', 'from': 'a@b.c'}, {})\n"
        "except MailError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "None"
    assert lines[1].startswith("h:587: no password for user 'billing'")
