"""Simon's login (api/simon.md 5.1): `POST /token` with `Key`/`Usr`/`Pwd` gives a token
that expires; every other call carries it in a header, and the API key in another header
when the login has one. Messages never repeat a password, key or token."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emulators.common import Clock
from emulators.simon.schema import SimonError, format_datetime

DEFAULT_TOKEN_TTL = 3600.0
DEFAULT_LICENSE_KEY = "1234567890123456"
DEFAULT_USER = "api@simon.example"
DEFAULT_PASSWORD = "simon-demo"


def unauthorized(message: str) -> SimonError:
    return SimonError(401, "Unauthorized", message)


@dataclass(frozen=True)
class Login:
    key: str
    user: str
    password: str
    api_key: str | None = None

    def __repr__(self) -> str:
        return f"Login(key=..., user={self.user!r})"


class Tokens:
    """Registered logins and the tokens issued to them."""

    def __init__(self, clock: Clock, ttl: float = DEFAULT_TOKEN_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self.logins: dict[tuple[str, str], Login] = {}
        self.issued = 0
        self._tokens: dict[str, tuple[Login, datetime]] = {}
        self._lock = threading.Lock()

    def add_login(self, key: str, user: str, password: str, api_key: str | None = None) -> Login:
        login = Login(key, user, password, api_key)
        with self._lock:
            self.logins[(key, user)] = login
        return login

    def issue(self, body: Any, api_key: str | None) -> dict[str, str]:
        """Answer `POST /token`: `{"Token", "ExpiresAt"}`, or 400/401."""
        if not isinstance(body, dict):
            raise SimonError(400, "Validation", "the body must be a JSON object")
        for name in ("Key", "Usr", "Pwd"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise SimonError(400, "Validation", f"{name} is required", name)
        login = self.logins.get((body["Key"], body["Usr"]))
        if login is None or not secrets.compare_digest(login.password, body["Pwd"]):
            raise unauthorized("unknown licence key, user or password")
        _check_api_key(login, api_key)
        token = secrets.token_urlsafe(24)
        expires = self.clock.now() + timedelta(seconds=self.ttl)
        with self._lock:
            self._tokens[token] = (login, expires)
            self.issued += 1
        return {"Token": token, "ExpiresAt": format_datetime(expires)}

    def check(self, token: str | None, api_key: str | None) -> Login:
        """The login a request's token belongs to, or 401."""
        if not token:
            raise unauthorized("missing token")
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            raise unauthorized("invalid token")
        login, expires = entry
        if self.clock.now() >= expires:
            raise unauthorized("token expired")
        _check_api_key(login, api_key)
        return login

    def login_of(self, token: str | None) -> Login | None:
        with self._lock:
            entry = self._tokens.get(token or "")
        return entry[0] if entry else None

    def expire_all(self) -> None:
        """Every issued token expires now (the `expire_tokens` fault)."""
        with self._lock:
            past = self.clock.now() - timedelta(seconds=1)
            self._tokens = {t: (login, past) for t, (login, _) in self._tokens.items()}


def _check_api_key(login: Login, api_key: str | None) -> None:
    if login.api_key is None:
        return
    if not api_key or not secrets.compare_digest(login.api_key, api_key):
        raise unauthorized("missing or invalid API key")
