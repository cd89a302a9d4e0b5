"""The Simple-Simon API client: every wire detail of Simon lives here."""

from reconcilers.clients.simon.client import (
    API_KEY_HEADER,
    TOKEN_HEADER,
    DuplicateExtKeyError,
    InUseError,
    InvalidReferenceError,
    SimonClient,
)

__all__ = [
    "API_KEY_HEADER",
    "TOKEN_HEADER",
    "DuplicateExtKeyError",
    "InUseError",
    "InvalidReferenceError",
    "SimonClient",
]
