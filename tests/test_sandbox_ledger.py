"""The sandbox's Ledger pages in O(page) and agrees with a plain list slice in every case."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import UpstreamError
from connector.sandbox.ledger import Ledger, page_of

# Operations: add a new key, or remove the n-th live key.
_ops = st.lists(
    st.one_of(st.just(("add", 0)), st.tuples(st.just("remove"), st.integers(0, 200))),
    max_size=300,
)


def _build(ops: list[tuple[str, int]]) -> Ledger[int]:
    ledger: Ledger[int] = Ledger()
    counter = 0
    for op, n in ops:
        if op == "add":
            ledger.add(f"k{counter}", counter)
            counter += 1
        elif len(ledger):
            key = ledger.newest_first()[n % len(ledger)][0]
            assert ledger.remove(key) is not None
    return ledger


@settings(max_examples=300, deadline=None)
@given(ops=_ops, limit=st.integers(1, 30), pick=st.integers(0, 400), direction=st.booleans())
def test_pages_match_the_list_slice(
    ops: list[tuple[str, int]], limit: int, pick: int, direction: bool
) -> None:
    ledger = _build(ops)
    rows = ledger.newest_first()
    cursor = rows[pick % len(rows)][0] if rows and pick % 3 else None
    after = cursor if direction else None
    before = None if direction else cursor
    assert ledger.page(limit=limit, after_id=after, before_id=before) == page_of(
        rows, limit=limit, after_id=after, before_id=before
    )


@settings(max_examples=100, deadline=None)
@given(ops=_ops, limit=st.integers(1, 10))
def test_walking_after_id_visits_every_record_once(ops: list[tuple[str, int]], limit: int) -> None:
    ledger = _build(ops)
    seen: list[str] = []
    cursor = None
    while True:
        chunk, more = ledger.page(limit=limit, after_id=cursor, before_id=None)
        seen += [key for key, _ in chunk]
        if not more:
            break
        cursor = chunk[-1][0]
    assert seen == [key for key, _ in ledger.newest_first()]


def test_filtered_pages_skip_records_that_do_not_match() -> None:
    ledger: Ledger[int] = Ledger()
    for i in range(20):
        ledger.add(f"k{i}", i)
    chunk, more = ledger.page(limit=3, after_id=None, before_id=None, keep=lambda v: v % 2 == 0)
    assert [v for _, v in chunk] == [18, 16, 14]
    assert more


def test_an_unknown_cursor_is_the_api_400() -> None:
    ledger: Ledger[int] = Ledger()
    ledger.add("a", 1)
    ledger.remove("a")
    with pytest.raises(UpstreamError) as caught:
        ledger.page(limit=5, after_id="a", before_id=None)
    assert caught.value.status == 400
