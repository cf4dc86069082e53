"""The allocator keeps what a page freed: the next page takes it without page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from atende_logs.allocator import is_glibc

# A page's worth of documents (2,000 of 2.5 KB), allocated and freed round after round, as
# the rows of a page of 1,000 and their driver's copies are: prints the page faults of the
# later rounds, the first round's set aside.
_ROUNDS = """
import resource, sys
if sys.argv[1] == "tuned":
    from atende_logs.allocator import keep_freed_memory
    assert keep_freed_memory()
def page():
    docs = [bytes(2500) for _ in range(2000)]
    del docs
page()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    page()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _ROUNDS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not is_glibc(), reason="the thresholds are glibc's; other libcs have none")
def test_a_freed_page_is_reused_without_page_faults() -> None:
    default, tuned = _faults("default"), _faults("tuned")
    # 20 rounds of 5 MB: glibc's defaults give it back and fault it in again (~1,200 faults
    # a round); tuned, the memory stays and later rounds fault (almost) nothing.
    assert default > 20 * 500
    assert tuned < 200


def test_off_glibc_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    from atende_logs import allocator

    monkeypatch.setattr(allocator, "is_glibc", lambda: False)
    assert allocator.keep_freed_memory() is False
