"""Bounded state: expired dedup keys and throttle windows are deleted, with tombstones to the changelog."""

from __future__ import annotations

import time

import httpx

from tests.support.kafka import consume_until
from tests.support.pipeline import action, event, running_pipeline


def entries(pipe, table: str) -> float:
    for line in httpx.get(f"{pipe.api}/metrics").text.splitlines():
        if line.startswith(f'notification_actions_table_entries{{table="{table}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no table_entries for {table}")


async def test_expired_dedup_keys_and_throttle_windows_are_tombstoned(kafka_bootstrap, tmp_path, sink):
    with running_pipeline(kafka_bootstrap, tmp_path, NOTIFICATION_ACTIONS_DEDUP_TTL_SECONDS="2") as pipe:
        org = 72_001
        await pipe.put_actions(action(f"x{org}", org, f"{sink.url}/expiry/{org}",
                                      throttle={"limit": 100, "window_seconds": 2, "key": "data.n"}))
        pipe.wait_actions(org, lambda a: f"x{org}" in a)
        n = 40
        await pipe.publish(*(event(f"e{org}-{i}", org, n=i) for i in range(n)))
        await sink.wait_for(n, 60, path_prefix=f"/expiry/{org}")

        app_id = pipe.env["NOTIFICATION_ACTIONS_APP_ID"]
        dedup_keys = {f"e{org}-{i}:x{org}".encode() for i in range(n)}
        tombstoned = await consume_until(
            kafka_bootstrap, f"{app_id}-dedup-changelog",
            lambda rs: dedup_keys <= {r.key for r in rs if r.value is None}, timeout=60)
        written = {r.key for r in tombstoned if r.value is not None}
        assert dedup_keys <= written  # each was written, then deleted
        throttle_keys = {f"x{org}|{i}".encode() for i in range(n)}
        await consume_until(kafka_bootstrap, f"{app_id}-throttle-changelog",
                            lambda rs: throttle_keys <= {r.key for r in rs if r.value is None}, timeout=60)
        deadline = time.monotonic() + 30
        while entries(pipe, "dedup") or entries(pipe, "throttle"):
            assert time.monotonic() < deadline, (entries(pipe, "dedup"), entries(pipe, "throttle"))
            time.sleep(0.2)

        # expired means absent: the same event is delivered again (the TTL passed), throttle counts afresh
        await pipe.publish(event(f"e{org}-0", org, n=0))
        got = await sink.wait_for(n + 1, 30, path_prefix=f"/expiry/{org}")
        assert [r.json()["event"]["id"] for r in got].count(f"e{org}-0") == 2


class _Table:
    """The two things Expiry uses of a Faust table: its store and send_changelog."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.sent: list[tuple[int, bytes, bytes | None]] = []

    def send_changelog(self, partition, key, value):
        self.sent.append((partition, key, value))


def test_sweep_deletes_only_expired_owned_unchanged_entries():
    from notification_actions.tables.expiry import Expiry

    table = _Table()
    parse = lambda raw: (float(raw.split(b"|")[0]), int(raw.split(b"|")[1]))  # noqa: E731
    expiry = Expiry(table, parse, name="t")
    for key, at, partition in [(b"a", 10, 0), (b"b", 10, 1), (b"c", 30, 0), (b"d", 10, 0)]:
        table.data[key] = b"%d|%d" % (at, partition)
        expiry.note(key, at, partition)
    table.data[b"d"] = b"50|0"  # written again since: not expired
    expiry.note(b"d", 50, 0)
    assert expiry.sweep([0], now=20) == 1
    assert table.sent == [(0, b"a", None)] and b"a" not in table.data
    assert set(table.data) == {b"b", b"c", b"d"}  # b: another worker's partition; c, d: not yet
    assert expiry.seed() == 3 and expiry.sweep([0, 1], now=100) == 3 and not table.data
