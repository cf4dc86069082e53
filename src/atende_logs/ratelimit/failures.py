"""Failed authentications per client address, and the keys that authenticated lately.

A key of the right form is checked against the database, and its checksum is no secret: a
client minting fresh well-formed keys gets a fresh per-key bucket each time, so per-key
quotas never stop it and each of its requests costs a lookup. So every failed
authentication of a well-formed key also takes a token from a bucket of the client's
address (the same ``Buckets``, so it is shared through Redis like the others). While that
bucket is empty the address is refused before any database work, except for keys that
authenticated in this process lately: customers behind the same NAT as an attacker keep
working, and their keys are still checked against the database on every request, so a
revocation still takes effect on the next one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from atende_logs.ratelimit.bucket import Policy, Verdict

if TYPE_CHECKING:  # the protocol lives in the package, which imports this module
    from atende_logs.ratelimit import Buckets

MAX_REMEMBERED_KEYS = 10_000
"""Keys remembered as recently authenticated (about 2 MB of digests); past it the least
recently used one is forgotten, which only ever subjects that key to its address's block."""


class RecentKeys:
    """A bounded set of key digests, in least-recently-used order."""

    def __init__(self, max_keys: int = MAX_REMEMBERED_KEYS) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._max = max_keys

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, digest: object) -> bool:
        return digest in self._keys

    def add(self, digest: str) -> None:
        self._keys[digest] = None
        self._keys.move_to_end(digest)
        if len(self._keys) > self._max:
            self._keys.popitem(last=False)

    def discard(self, digest: str) -> None:
        self._keys.pop(digest, None)


class AuthFailures:
    """The failed-authentication quota of each client address, and who may pass its block.

    ``address`` and ``digest`` are opaque strings to it (the caller's partition keys);
    ``digest`` is None for a request without a well-formed key, which never gets past a
    block.
    """

    def __init__(self, buckets: Buckets, policy: Policy, recent: RecentKeys | None = None):
        self.buckets = buckets
        self.policy = policy
        self.recent = recent if recent is not None else RecentKeys()

    async def refusal(self, address: str, digest: str | None) -> Verdict | None:
        """The refusal a request gets while its address has no failures left, else None."""
        if digest is not None and digest in self.recent:
            return None
        verdict = await self.buckets.peek(address, self.policy)
        return None if verdict.allowed else verdict

    def succeeded(self, digest: str) -> None:
        """Note a key that authenticated: its address's block no longer stops it."""
        self.recent.add(digest)

    async def failed(self, address: str, digest: str) -> Verdict:
        """Spend one of ``address``'s failures on a key the database did not accept (and
        forget the key, if it had authenticated before its revocation)."""
        self.recent.discard(digest)
        return await self.buckets.consume(address, self.policy)
