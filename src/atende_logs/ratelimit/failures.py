"""Failed authentications per client address, and the keys that authenticated lately.

A key of the right form is checked against the database, and its checksum is no secret: a
client minting fresh well-formed keys gets a fresh per-key bucket each time, so per-key
quotas never stop it and each of its requests costs a lookup. So every failed
authentication of a well-formed key also takes a token from a bucket of the client's
address (the same ``Buckets``, so it is shared through Redis like the others). While that
bucket is empty the address is refused before any database work, except for keys that
authenticated lately: customers behind the same NAT as an attacker keep working, and their
keys are still checked against the database on every request, so a revocation still takes
effect on the next one.

"Lately" is this process's memory of keys that got a 2xx (``RecentKeys``) and, with Redis,
a note every process shares (``AUTHENTICATED_TTL_S``): a key that worked in one process
passes a block in all of them. The note is written when a process first sees the key
succeed and again at most every ``NOTE_REFRESH_S``, and read only for a request from a
blocked address, so it costs nothing on the usual path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from atende_logs.ratelimit.bucket import Policy, Verdict

if TYPE_CHECKING:  # the protocol lives in the package, which imports this module
    from atende_logs.ratelimit import Buckets

MAX_REMEMBERED_KEYS = 10_000
"""Keys remembered as recently authenticated (about 2 MB of digests); past it the least
recently used one is forgotten, which only ever subjects that key to its address's block."""
AUTHENTICATED_TTL_S = 86_400
"""How long the shared note of a key's success lasts once no process refreshes it."""
NOTE_REFRESH_S = 3_600
"""How often, at most, a process rewrites the shared note of a key that keeps succeeding."""


class RecentKeys:
    """A bounded set of key digests, in least-recently-used order, each with the time its
    shared note was last written."""

    def __init__(
        self, max_keys: int = MAX_REMEMBERED_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._max = max_keys
        self._clock = clock

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, digest: object) -> bool:
        return digest in self._keys

    def add(self, digest: str) -> bool:
        """Remember ``digest``; True when its shared note is due: it was not remembered, or
        its note was written over ``NOTE_REFRESH_S`` ago (the time is then reset)."""
        now = self._clock()
        noted = self._keys.get(digest)
        due = noted is None or now - noted >= NOTE_REFRESH_S
        if due:
            self._keys[digest] = now
        self._keys.move_to_end(digest)
        if len(self._keys) > self._max:
            self._keys.popitem(last=False)
        return due

    def discard(self, digest: str) -> None:
        self._keys.pop(digest, None)


def _note(digest: str) -> str:
    return "authenticated:" + digest


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
        if verdict.allowed:
            return None
        if digest is not None and await self.buckets.remembers(_note(digest)):
            self.recent.add(digest)  # another process saw it succeed: no need to ask again
            return None
        return verdict

    async def succeeded(self, digest: str) -> None:
        """Note a key that authenticated: its address's block no longer stops it, in this
        process at once and, through shared buckets, in the others."""
        if self.recent.add(digest):
            await self.buckets.remember(_note(digest), AUTHENTICATED_TTL_S)

    async def failed(self, address: str, digest: str) -> Verdict:
        """Spend one of ``address``'s failures on a key the database did not accept (and
        forget the key, if it had authenticated before its revocation)."""
        self.recent.discard(digest)
        await self.buckets.forget(_note(digest))
        return await self.buckets.consume(address, self.policy)
