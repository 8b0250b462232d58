"""Talking to Google Sheets through gspread: credentials, bounded retries, plain-language errors.

``toolkit.sheets.source`` decides *what* to read and write; this module decides *how* a call
reaches Google and what the user is told when it does not.

Credentials, in this order: ``[google] credentials`` in the billing manual, the
``GOOGLE_APPLICATION_CREDENTIALS`` environment variable, then gspread's usual files
(``~/.config/gspread/service_account.json``, ``credentials.json``). The file may be a
service account key (``"type": "service_account"``), an OAuth client of the user's own
Google Cloud project (``{"installed": ...}``: gspread's browser sign-in, the token kept
in ``~/.config/receivables/``), or an authorized-user file (``"type": "authorized_user"``,
as ``gcloud auth application-default login`` writes). Only the Sheets scope is asked for.
No message ever quotes a key, a token or a client secret.

Retries are ours, not gspread's ``BackOffHTTPClient`` (which retries forever): 408, 429
and 5xx answers and dropped connections are retried with exponential backoff and full
jitter, at most ``RetryPolicy.attempts`` times within ``RetryPolicy.budget`` seconds,
then the run stops with a message saying what Google answered and what to do.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gspread
import gspread.auth
import requests
from google.auth import exceptions as auth_errors
from gspread.exceptions import APIError

from toolkit.errors import GoogleSheetError
from toolkit.manual import MANUAL_FILENAME, BillingManual

T = TypeVar("T")

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
DOCS = "docs/google-sheets.md"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")


# --------------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True)
class GoogleLogin:
    """The credentials file a run uses, and what it says about who we are (never the secret)."""

    kind: str  # "service_account", "oauth_client" or "authorized_user"
    path: Path
    origin: str  # how the file was found, for messages
    email: str | None = None  # the service account's address: the one to share the sheet with

    @property
    def token_file(self) -> Path:
        """Where the OAuth sign-in is remembered (only for an OAuth client)."""
        return gspread.auth.get_config_dir("receivables") / "google-authorized-user.json"


def find_login(manual: BillingManual, where: str) -> GoogleLogin:
    """The credentials file named by the manual, the environment or gspread's defaults, checked."""
    configured = str(manual.section("google").get("credentials", "")).strip()
    manual_name = manual.source if manual.path else MANUAL_FILENAME
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute() and manual.path is not None:
            path = manual.path.parent / path
        origin = f"[google] credentials in {manual_name}"
    elif os.environ.get(CREDENTIALS_ENV, "").strip():
        path = Path(os.environ[CREDENTIALS_ENV].strip()).expanduser()
        origin = f"the {CREDENTIALS_ENV} environment variable"
    else:
        config = gspread.auth.get_config_dir()
        found = next((p for p in (config / "service_account.json", config / "credentials.json") if p.is_file()), None)
        if found is None:
            written_by = "" if manual.path else " ('receivables init' writes one)"
            raise GoogleSheetError(
                f"{where}: no Google credentials: set {CREDENTIALS_ENV}, or [google] credentials in "
                f"{manual_name}{written_by}, to the JSON key of a service account the sheet is shared with; "
                f"see {DOCS}"
            )
        path, origin = found, "gspread's default location"
    return _check_file(path, origin)


def _check_file(path: Path, origin: str) -> GoogleLogin:
    fix = f"download the JSON key again ({DOCS})"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoogleSheetError(f"{path}: Google credentials file not found (named by {origin}); {fix}") from None
    except IsADirectoryError:
        raise GoogleSheetError(f"{path}: is a folder, not a Google credentials file (named by {origin})") from None
    except OSError as exc:
        raise GoogleSheetError(f"{path}: cannot read the Google credentials file ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GoogleSheetError(f"{path}: not a JSON credentials file (named by {origin}); {fix}") from None
    if not isinstance(info, dict):
        raise GoogleSheetError(f"{path}: not a Google credentials file (named by {origin}); {fix}")
    kind = info.get("type")
    if kind == "service_account":
        missing = [f for f in _SERVICE_ACCOUNT_FIELDS if not isinstance(info.get(f), str) or not info.get(f)]
        if missing:
            raise GoogleSheetError(
                f"{path}: this service account key lacks {', '.join(missing)}; create a new JSON key ({DOCS})"
            )
        return GoogleLogin("service_account", path, origin, email=info["client_email"])
    if kind == "authorized_user":
        return GoogleLogin("authorized_user", path, origin)
    if isinstance(info.get("installed"), dict) or isinstance(info.get("web"), dict):
        return GoogleLogin("oauth_client", path, origin)
    found = f' (its "type" is {kind!r})' if isinstance(kind, str) else ""
    raise GoogleSheetError(
        f"{path}: not a service account key nor an OAuth client file{found}; "
        f"use the JSON key of a service account ({DOCS})"
    )


def authorize(login: GoogleLogin) -> gspread.Client:
    """A gspread client signed in with ``login`` (the OAuth client may open a browser once)."""
    try:
        if login.kind == "service_account":
            return gspread.service_account(filename=str(login.path), scopes=SCOPES)
        if login.kind == "authorized_user":
            from google.oauth2.credentials import Credentials

            info = json.loads(login.path.read_text(encoding="utf-8"))
            return gspread.authorize(Credentials.from_authorized_user_info(info, SCOPES))  # type: ignore[no-untyped-call]
        return gspread.oauth(
            scopes=SCOPES,
            credentials_filename=str(login.path),
            authorized_user_filename=str(login.token_file),
        )
    except (ValueError, KeyError, auth_errors.GoogleAuthError):
        # The reason google-auth gives may quote the file; say what to do instead.
        what = "service account key" if login.kind == "service_account" else "credentials file"
        raise GoogleSheetError(
            f"{login.path}: this {what} cannot be used (damaged or incomplete); create a new JSON key ({DOCS})"
        ) from None
    except OSError as exc:
        raise GoogleSheetError(f"{login.path}: cannot use the Google credentials ({exc.strerror})") from None
    except Exception as exc:  # the browser sign-in of an OAuth client failed or was closed
        raise GoogleSheetError(
            f"{login.path}: the Google sign-in did not complete ({type(exc).__name__}); run again and allow access"
        ) from None


# --------------------------------------------------------------------------------------------
# Retries


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most ``attempts`` tries, never waiting past ``budget`` seconds in all.

    The wait before retry *n* (0-based) is a random time between 0 and
    ``min(max_delay, base_delay * 2**n)`` ("full jitter"): several runs hitting the quota
    at once do not come back in step. ``sleep``, ``clock`` and ``jitter`` are injectable
    so tests run in fake time.
    """

    attempts: int = 5
    budget: float = 60.0
    base_delay: float = 4.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def delay(self, retry: int) -> float:
        return float(self.jitter() * min(self.max_delay, self.base_delay * 2**retry))


@dataclass
class _Failure:
    status: int | None  # HTTP status, None for a connection that failed
    label: str
    retry_after: float = 0.0


class SheetsApi:
    """One spreadsheet's API calls, each retried within bounds and its failure explained.

    ``call(what, action)`` runs ``action`` (any number of raw gspread calls, usually one)
    and retries the whole of it on a transient failure. ``what`` says what the run was
    doing ("reading the sheet"), for the message.
    """

    def __init__(
        self, client: gspread.Client, key: str, where: str, login: GoogleLogin | None, retry: RetryPolicy
    ) -> None:
        self.http = client.http_client
        if getattr(self.http, "timeout", None) is None:
            self.http.set_timeout((15, 120))  # (connect, read) seconds: a dead connection is retried, not waited on
        self.key = key
        self.where = where
        self.login = login
        self.retry = retry

    def call(self, what: str, action: Callable[[], T]) -> T:
        policy = self.retry
        start = policy.clock()
        failures: list[_Failure] = []
        for attempt in range(max(1, policy.attempts)):
            try:
                return action()
            except APIError as err:
                status = err.response.status_code  # err.code is -1 when Google answers with an HTML page
                if status not in RETRYABLE_STATUSES:
                    raise self._refused(err, status, what) from None
                failures.append(_Failure(status, f"{status} {_reason(err)}".strip(), _retry_after(err.response)))
            except (requests.ConnectionError, requests.Timeout, auth_errors.TransportError) as exc:
                failures.append(_Failure(None, _connection_label(exc)))
            except auth_errors.RefreshError as exc:
                if not getattr(exc, "retryable", False):
                    raise self._login_refused(exc) from None
                failures.append(_Failure(None, "sign-in service unavailable"))
            if attempt + 1 >= policy.attempts:
                break
            wait = max(policy.delay(attempt), failures[-1].retry_after)
            if policy.clock() - start + wait > policy.budget:
                break
            policy.sleep(wait)
        raise self._gave_up(failures, what, policy.clock() - start)

    # -- messages ------------------------------------------------------------------------

    def _refused(self, err: APIError, status: int, what: str) -> GoogleSheetError:
        where, login = self.where, self.login
        message = _google_message(err)
        if status == 404:
            return GoogleSheetError(
                f"{where}: no spreadsheet has this key (Google answered 404 Not Found); copy the key from the "
                "sheet's address in the browser: it is the part between /d/ and /edit"
            )
        if status == 403 and ("has not been used" in message or "is disabled" in message):
            return GoogleSheetError(
                f"{where}: the Google Sheets API is not enabled in the Google Cloud project of the credentials; "
                f"enable it (APIs & Services > Library > Google Sheets API) and run again ({DOCS})"
            )
        if status == 403 and "protected" in message.lower():
            who = login.email if login is not None and login.email else "your Google account"
            return GoogleSheetError(
                f"{where}: Google refused to change protected cells ({message}); in Google Sheets, Data > "
                f"Protect sheets and ranges: let {who} edit the tool's columns. Nothing was written"
            )
        if status == 403:
            writing = what.startswith(("writing", "adding"))
            if login is not None and login.email:
                if writing:
                    return GoogleSheetError(
                        f"{where}: the sheet is shared read-only with {login.email}; in Google Sheets click "
                        f"Share and make {login.email} an Editor. Nothing was written"
                    )
                return GoogleSheetError(
                    f"{where}: the sheet is not shared with the service account {login.email}; open it in "
                    f"Google Sheets, click Share and add {login.email} as an Editor"
                )
            if writing:
                return GoogleSheetError(
                    f"{where}: your Google account may only view this sheet; ask its owner to make you an "
                    "Editor. Nothing was written"
                )
            return GoogleSheetError(
                f"{where}: your Google account cannot open this sheet; ask its owner to share it with you as an Editor"
            )
        if status == 401:
            if login is None:
                fix = "check the credentials the client was built with"
            elif login.kind == "oauth_client":
                fix = f"delete {login.token_file} and run again to sign in"
            else:
                fix = f"create a new key ({DOCS})"
            named = f" from {login.path}" if login is not None else ""
            return GoogleSheetError(f"{where}: Google did not accept the credentials{named} (401); {fix}")
        detail = f": {message}" if message else ""
        return GoogleSheetError(f"{where}: Google Sheets refused the request while {what} ({status}{detail})")

    def _login_refused(self, exc: auth_errors.RefreshError) -> GoogleSheetError:
        login = self.login
        code = _oauth_error_code(exc)
        reason = f" ({code})" if code else ""
        if login is None:
            return GoogleSheetError(f"{self.where}: Google refused to sign in{reason}; check the credentials")
        if login.kind == "service_account":
            return GoogleSheetError(
                f"{login.path}: Google refused the key of service account {login.email}{reason}: it was "
                f"deleted or disabled; create a new JSON key for it ({DOCS})"
            )
        if login.kind == "oauth_client":
            return GoogleSheetError(
                f"{login.path}: Google refused the saved sign-in{reason}; delete {login.token_file} and run again "
                "to sign in"
            )
        return GoogleSheetError(f"{login.path}: Google refused these credentials{reason}; sign in again ({DOCS})")

    def _gave_up(self, failures: list[_Failure], what: str, elapsed: float) -> GoogleSheetError:
        n = len(failures)
        times = "once" if n == 1 else f"{n} times"
        span = f" in {elapsed:.0f} s" if elapsed >= 1 else ""
        statuses = [f.status for f in failures]
        if statuses and all(s == 429 for s in statuses):
            return GoogleSheetError(
                f"{self.where}: Google Sheets refused {times} with 429 (quota: 60 requests a minute per user) "
                f"while {what}{span}; wait a minute and run again"
            )
        if statuses and all(s is None for s in statuses):
            return GoogleSheetError(
                f"{self.where}: could not reach Google Sheets ({failures[-1].label}) {times} while {what}{span}; "
                "check the internet connection and run again"
            )
        counted = ", ".join(
            f"{label} x{k}" if k > 1 else label for label, k in Counter(f.label for f in failures).items()
        )
        return GoogleSheetError(
            f"{self.where}: Google Sheets failed {times} while {what}{span} ({counted}); "
            "Google may be having trouble: wait a few minutes and run again"
        )


def _google_message(err: APIError) -> str:
    """Google's own message, on one short line (an HTML error page gives none)."""
    error = err.error if isinstance(err.error, dict) else {}
    if err.code == -1:
        return ""
    text = " ".join(str(error.get("message", "")).split())
    return text[:300]


def _reason(err: APIError) -> str:
    status = err.error.get("status") if isinstance(err.error, dict) and err.code != -1 else None
    if isinstance(status, str) and status.isupper():
        return status
    return {502: "BAD_GATEWAY", 503: "UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}.get(err.response.status_code, "")


def _retry_after(response: Any) -> float:
    """Seconds from a Retry-After header (Google rarely sends one), capped by the policy's budget later."""
    try:
        value = response.headers.get("Retry-After")
        return max(0.0, float(value)) if value else 0.0
    except (TypeError, ValueError, AttributeError):
        return 0.0


def _connection_label(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return "connection failed"


def _oauth_error_code(exc: auth_errors.RefreshError) -> str:
    """``invalid_grant`` and the like: a code, never the response body (which may echo a token)."""
    for arg in exc.args:
        if isinstance(arg, dict) and isinstance(arg.get("error"), str):
            return str(arg["error"][:40])
    first = str(exc.args[0]) if exc.args else ""
    code = first.split(":", 1)[0].strip()
    return code if code.replace("_", "").isalpha() and len(code) <= 40 else ""
