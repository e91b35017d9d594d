"""The C heap keeps freed encoder buffers while encoders come and go, and hands them back after."""

from __future__ import annotations

from tests.heap import PAGES_PER_ROUND, glibc_default_heap, run_fresh

pytestmark = glibc_default_heap()


def test_freed_buffers_are_reused_without_page_faults() -> None:
    out = run_fresh(
        """
        from recoil.media.heap import keeping_freed_memory
        churn(1)
        default = churn(5)
        with keeping_freed_memory():
            churn(1)
            kept = churn(5)
        after = churn(5)
        print(default, kept, after)
        """
    )
    default, kept, after = map(int, out.split())
    assert default > 5 * PAGES_PER_ROUND * 0.9, "by default every round faults its pages in"
    assert kept < default / 20
    assert after > 5 * PAGES_PER_ROUND * 0.9, "glibc's defaults are back once no one encodes"


def test_the_memory_goes_back_when_the_last_user_leaves() -> None:
    out = run_fresh(
        """
        from recoil.media.heap import keeping_freed_memory
        start = resident_mb()
        with keeping_freed_memory():
            with keeping_freed_memory():
                churn(1)
                inside = resident_mb()
            still = resident_mb()  # another user is inside: nothing is handed back yet
        after = resident_mb()
        print(start, inside, still, after)
        """
    )
    start, inside, still, after = map(float, out.split())
    assert inside - start > 24  # the 32 MB freed by the encoder are kept...
    assert still - start > 24
    assert after - start < 8  # ...and handed back once no one encodes
