"""Lanes: at most ``per_endpoint`` workers per subscription, reused for every lease that
follows (no task per attempt), waiting for more only while lingering, and leases still
queued taken back whole."""

from __future__ import annotations

import anyio
import pytest

from connector.emitter.lanes import Lanes
from connector.emitter.store import Lease, Subscription, build_event


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _leases(subscription: str, count: int, start: int = 0) -> list[Lease]:
    sub = Subscription(subscription, "http://a.test", (), ("whsec_x",), "active", None, None, 0.0)
    return [
        Lease(
            n,
            "w",
            0,
            build_event(
                "files.created",
                resource="files",
                record_id=f"f{n}",
                marker="created",
                data={},
                timestamp=0.0,
                path="/p",
                created_at=0.0,
            ),
            sub,
        )
        for n in range(start, start + count)
    ]


class Recording:
    def __init__(self) -> None:
        self.done: list[int] = []
        self.tasks: set[int] = set()
        self.now = self.peak = 0

    async def __call__(self, lease: Lease) -> None:
        self.tasks.add(anyio.get_current_task().id)
        self.now += 1
        self.peak = max(self.peak, self.now)
        await anyio.sleep(0.001)
        self.now -= 1
        self.done.append(lease.delivery_id)


@pytest.mark.anyio
async def test_a_lane_runs_at_most_per_endpoint_workers_and_they_end_with_the_queue() -> None:
    lanes, attempt = Lanes(3), Recording()
    async with anyio.create_task_group() as group:
        lanes.push(group, _leases("sub_a", 40) + _leases("sub_b", 5, 100), attempt, linger=False)
    assert sorted(attempt.done) == [*range(40), *range(100, 105)]
    assert attempt.peak <= 6 and len(attempt.tasks) == 6  # 3 workers per lane, no more
    assert [d for d in attempt.done if d < 100] == list(range(40))  # each lane in lease order


@pytest.mark.anyio
async def test_lingering_workers_take_later_leases_without_new_tasks() -> None:
    lanes, attempt = Lanes(2), Recording()
    async with anyio.create_task_group() as group:
        lanes.push(group, _leases("sub_a", 4), attempt, linger=True)
        with anyio.fail_after(5):
            while len(attempt.done) < 4:
                await anyio.sleep(0.001)
        first = set(attempt.tasks)
        lanes.push(group, _leases("sub_a", 6, 10), attempt, linger=True)
        with anyio.fail_after(5):
            while len(attempt.done) < 10:
                await anyio.sleep(0.001)
        assert attempt.tasks == first and len(first) == 2
        assert lanes.take_queued() == []  # retires every lane: its waiting workers end
    assert len(lanes) == 0


@pytest.mark.anyio
async def test_leases_still_queued_are_taken_back_when_the_run_is_cancelled() -> None:
    lanes = Lanes(1)
    started = anyio.Event()

    async def stuck(lease: Lease) -> None:
        started.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        lanes.push(group, _leases("sub_a", 5), stuck, linger=True)
        await started.wait()
        group.cancel_scope.cancel()
    assert [lease.delivery_id for lease in lanes.take_queued()] == [1, 2, 3, 4]
