"""Point the REAL gspread (6.2.1) client at the local Sheets emulator (tests/sheets_emulator.py).

gspread builds every URL from module constants (``gspread.urls``) that were copied into
``gspread.http_client`` at import time, so patching ``gspread.urls`` does nothing.  Every API call
does go through ``HTTPClient.request(method, endpoint, ...)``, so ``LocalHTTPClient`` overrides
that one method and rewrites

    https://sheets.googleapis.com/...  (Sheets v4)
    https://www.googleapis.com/...     (Drive v3 / upload: open(title), creationTime, export ...)

to the emulator's ``base_url``.  Any other URL is refused (a test can never reach Google).

``gspread.Client(auth, session=None, http_client=HTTPClient)`` instantiates ``http_client(auth,
session)`` itself, so the base URL has to live on the class: ``LocalHTTPClient.bound_to(url)``
makes a subclass carrying it.  The session is google-auth's ``AuthorizedSession`` (as in
production) with ``trust_env = False`` so HTTP(S)_PROXY / ALL_PROXY / .netrc never capture the
loopback traffic.  ``StaticTokenCredentials`` adds ``Authorization: Bearer <token>`` and never
refreshes over the network.  Note that ``AuthorizedSession`` re-sends a request that got a 401
up to 2 more times after "refreshing" the credentials (3 requests in total), exactly as with
real credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gspread
from google.auth.credentials import Credentials
from gspread.http_client import BackOffHTTPClient, HTTPClient

__all__ = [
    "GOOGLE_PREFIXES",
    "LocalBackOffHTTPClient",
    "LocalHTTPClient",
    "StaticTokenCredentials",
    "local_client",
    "patch_gspread_auth",
]

GOOGLE_PREFIXES = ("https://sheets.googleapis.com", "https://www.googleapis.com")


class StaticTokenCredentials(Credentials):
    """google-auth credentials with a fixed bearer token; ``refresh`` never touches the network.

    ``token=None`` sends no Authorization header at all (to test 401 handling).
    ``refresh_count`` counts the refreshes google-auth asked for (after a 401).
    """

    def __init__(self, token: str | None = "test-token"):
        super().__init__()
        self.token = token
        self.refresh_count = 0

    def refresh(self, request: Any) -> None:
        self.refresh_count += 1

    def apply(self, headers: Any, token: str | None = None) -> None:
        value = token if token is not None else self.token
        if value is not None:
            headers["authorization"] = f"Bearer {value}"

    def before_request(self, request: Any, method: str, url: str, headers: Any) -> None:
        self.apply(headers)


class LocalHTTPClient(HTTPClient):
    """gspread HTTPClient that sends every request to the emulator at ``base_url``."""

    base_url: str | None = None

    def __init__(self, auth: Credentials, session: Any = None) -> None:
        super().__init__(auth, session)
        if not hasattr(self, "auth"):  # HTTPClient only sets .auth when it builds the session
            self.auth = auth
        self.session.trust_env = False  # never route loopback traffic through a proxy

    @classmethod
    def bound_to(cls, base_url: str) -> type[LocalHTTPClient]:
        """A subclass of ``cls`` whose requests go to ``base_url`` (pass it as http_client=)."""
        return type(f"{cls.__name__}Bound", (cls,), {"base_url": base_url.rstrip("/")})

    @classmethod
    def rewrite(cls, url: str) -> str:
        if not cls.base_url:
            raise RuntimeError(f"{cls.__name__} has no base_url; use {cls.__name__}.bound_to(url)")
        if url.startswith(cls.base_url + "/"):
            return url
        for prefix in GOOGLE_PREFIXES:
            if url.startswith(prefix + "/"):
                return cls.base_url + url[len(prefix) :]
        raise RuntimeError(f"refusing to send a test request to {url!r} (not a Google API URL)")

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, self.rewrite(endpoint), *args, **kwargs)


class LocalBackOffHTTPClient(LocalHTTPClient, BackOffHTTPClient):
    """gspread's BackOffHTTPClient (retries 408/429/5xx with 2, 4, 8 ... s sleeps) on the emulator.

    Its sleeps are ``time.sleep`` calls inside ``gspread.http_client``; tests should replace
    them, e.g. ``monkeypatch.setattr(gspread.http_client.time, "sleep", lambda s: None)``.
    """


def local_client(
    base_url: str,
    *,
    token: str | None = "test-token",
    backoff: bool = False,
    http_client: type[LocalHTTPClient] | None = None,
) -> gspread.Client:
    """The real ``gspread.Client`` wired to the emulator at ``base_url``.

    ``backoff=True`` uses gspread's BackOffHTTPClient retry logic; ``http_client`` may be any
    LocalHTTPClient subclass (it is bound to ``base_url``).
    """
    cls = http_client or (LocalBackOffHTTPClient if backoff else LocalHTTPClient)
    return gspread.Client(StaticTokenCredentials(token), http_client=cls.bound_to(base_url))


def patch_gspread_auth(
    monkeypatch: Any, base_url: str, *, token: str | None = "test-token"
) -> list[tuple[str, tuple, dict]]:
    """Make gspread's auth factories return ``local_client(base_url)``.

    Patches ``service_account``, ``service_account_from_dict``, ``oauth``, ``oauth_from_dict``,
    ``authorize`` and ``api_key`` on both ``gspread`` and ``gspread.auth`` (code that did
    ``from gspread import service_account`` at import time is not affected).  A caller passing
    ``http_client=BackOffHTTPClient`` gets LocalBackOffHTTPClient.  Returns the list of calls
    as (name, args, kwargs) so tests can check e.g. the credentials file used.
    """
    calls: list[tuple[str, tuple, dict]] = []

    def factory(name: str) -> Callable[..., gspread.Client]:
        def fake(*args: Any, **kwargs: Any) -> gspread.Client:
            calls.append((name, args, kwargs))
            wanted = kwargs.get("http_client")
            backoff = isinstance(wanted, type) and issubclass(wanted, BackOffHTTPClient)
            return local_client(base_url, token=token, backoff=backoff)

        return fake

    for name in ("service_account", "service_account_from_dict", "oauth", "oauth_from_dict", "authorize", "api_key"):
        fake = factory(name)
        for module in (gspread, gspread.auth):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, fake)
    return calls
