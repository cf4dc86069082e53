"""Secrets: customer API keys, ingest keys and dialer tokens.

A secret looks like ``atl_live_<22 random base62 chars><6-char checksum>``: the prefix says
what it is (and lets secret scanners find a leaked one), the random part carries about 131
bits, and the CRC-32 checksum lets us reject a mistyped or truncated secret without touching
the database. Only the SHA-256 digest of a secret is ever stored; lookups go by digest, so
the comparison happens inside a unique index and leaks no timing about the secret itself.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from typing import Final, Literal

SecretType = Literal["atl_live_", "atl_ing_", "atl_dlr_"]
CUSTOMER_KEY: Final[SecretType] = "atl_live_"
INGEST_KEY: Final[SecretType] = "atl_ing_"
DIALER_TOKEN: Final[SecretType] = "atl_dlr_"

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS = 22
_CHECK_CHARS = 6
DISPLAY_CHARS = 4
"""How many random characters after the prefix are kept for display in listings."""


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_CHARS)


def generate(kind: SecretType) -> str:
    """A new random secret of the given type."""
    body = kind + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    return body + _checksum(body)


def is_well_formed(secret: str, kind: SecretType) -> bool:
    """Whether ``secret`` has the type's prefix, length and a matching checksum."""
    if not secret.startswith(kind) or len(secret) != len(kind) + _RANDOM_CHARS + _CHECK_CHARS:
        return False
    body, check = secret[:-_CHECK_CHARS], secret[-_CHECK_CHARS:]
    return secrets.compare_digest(_checksum(body), check)


def digest(secret: str) -> str:
    """What we store and look up instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """The part of a secret that is safe to show in a listing: type and 4 characters."""
    kind_end = secret.index("_", secret.index("_") + 1) + 1
    return secret[: kind_end + DISPLAY_CHARS]
