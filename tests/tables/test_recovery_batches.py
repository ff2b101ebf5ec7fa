"""The config GlobalTables recover in batches and still read their changelog live after.

``kafka/recovery.py`` batches the records recovery re-reads (a bulk load's
first restart re-read tens of thousands one RocksDB write at a time) while the
tables keep ``recovery_buffer_size=1``, the condition for Faust to go on reading
a GlobalTable's changelog after recovery: another worker's config writes must
still reach this one.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import faust
import orjson
from aiokafka.errors import IllegalStateError

from notification_actions.kafka.recovery import _BufferSizes, resume_where_read
from notification_actions.tables.raw import global_table
from tests.support.kafka import produce
from tests.support.pipeline import Pipeline, action, event
from tests.support.worker_process import WorkerProcess, unique, worker_env_for

STORED = {"projects": [], "enabled": True, "target_display": None, "integration_id": None,
          "sentry_app_id": None, "throttle": None, "template": None}


def test_a_batched_table_gets_the_batch_only_while_recovering():
    ours, other = object(), object()
    recovery = SimpleNamespace(in_recovery=True, tp_to_table={"ours-0": ours, "other-0": other})
    sizes = _BufferSizes(recovery, 1000)
    sizes.tables.add(id(ours))
    sizes["other-0"] = 7  # Faust caches the other tables' sizes as before
    assert sizes.get("ours-0") == 1000 and sizes.get("other-0") == 7 and sizes.get("unknown-0") is None
    recovery.in_recovery = False
    assert sizes.get("ours-0") == 1 and sizes.get("other-0") == 7


async def test_records_left_in_the_buffers_are_written_when_a_rebalance_completes():
    """Faust's "nothing to recover" path ends recovery without a flush: what recovery read into the
    buffers must reach the table before the tables' ``on_recover`` callbacks read it."""
    app = faust.App(unique("flush"), broker="kafka://127.0.0.1:1", store="memory://", autodiscover=False)
    table = global_table(app, "config", help="a batched config table")
    message = SimpleNamespace(key=b"k", value=b"v", tp=("config-changelog", 0), offset=3, partition=0)
    app.tables.recovery.buffers[table].append(SimpleNamespace(key=b"k", value=b"v", message=message))
    assert b"k" not in table
    await app.on_rebalance_complete.send()
    assert table[b"k"] == b"v" and not app.tables.recovery.buffers[table]


def test_a_resumed_changelog_partition_is_read_from_after_its_last_record():
    """The seek rule of ``resume_where_read``; ``tests/worker/test_processes.py`` shows it on a real broker."""
    calls: list = []
    recovery = SimpleNamespace(tp_to_table={"actions-0": 1, "dedup-3": 2, "fresh-0": 3},
                               active_tps={"actions-0", "fresh-0"}, active_offsets={"actions-0": 41, "fresh-0": -1},
                               standby_offsets={"actions-0": -1, "dedup-3": 7})
    consumer = SimpleNamespace(_read_offset=defaultdict(lambda: None),
                               _thread=SimpleNamespace(seek=lambda tp, at: calls.append(("seek", tp, at))),
                               resume_partitions=lambda tps: calls.append(("resume", sorted(tps))))
    consumer._read_offset["fresh-0"] = 5
    resume_where_read(SimpleNamespace(consumer=consumer, tables=SimpleNamespace(recovery=recovery)))
    consumer.resume_partitions({"actions-0", "dedup-3", "fresh-0", "events-2"})
    assert sorted(calls[:-1]) == [("seek", "actions-0", 42), ("seek", "dedup-3", 8), ("seek", "fresh-0", 0)]
    assert calls[-1] == ("resume", ["actions-0", "dedup-3", "events-2", "fresh-0"])  # after the seeks
    assert consumer._read_offset["actions-0"] == 42 and "fresh-0" not in consumer._read_offset
    resume_where_read(SimpleNamespace(consumer=consumer, tables=SimpleNamespace(recovery=recovery)))  # once only
    calls.clear()
    consumer.resume_partitions({"events-2"})
    assert calls == [("resume", ["events-2"])]

    def revoked(tp, at):
        raise IllegalStateError(f"No current assignment for partition {tp}")

    consumer._thread.seek = revoked  # a rebalance began: the partition is resumed all the same, unsought
    calls.clear()
    consumer.resume_partitions({"dedup-3"})
    assert calls == [("resume", ["dedup-3"])] and consumer._read_offset["dedup-3"] == 8


async def test_after_a_batched_recovery_another_workers_write_still_arrives(kafka_bootstrap, tmp_path, sink):
    env = worker_env_for(kafka_bootstrap, unique(), tmp_path)
    org = 72_001
    changelog = f"{env['NOTIFICATION_ACTIONS_APP_ID']}-actions-changelog"
    # More than two batches of stored actions, as a bulk load leaves them for the next start.
    stored = [{**action(f"bulk-{i}", org + 1 + i % 50, f"{sink.url}/bulk/{i}"), **STORED} for i in range(2_500)]
    stored.append({**action("recovered", org, f"{sink.url}/recovered/{org}"), **STORED})
    await produce(kafka_bootstrap, changelog, [(d["id"].encode(), orjson.dumps(d)) for d in stored])

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        pipe = Pipeline(kafka_bootstrap, env, worker.web_port)
        pipe.wait_actions(org, lambda a: "recovered" in a)
        assert len(pipe.actions_of(org + 1)) == 50  # every batch applied, the last partial one too
        # Another worker's write: straight to the changelog, after this worker's recovery.
        live = {**action("live", org, f"{sink.url}/live/{org}"), **STORED}
        await produce(kafka_bootstrap, changelog, [(b"live", orjson.dumps(live))])
        assert set(pipe.wait_actions(org, lambda a: "live" in a)) == {"recovered", "live"}
        await pipe.publish(event(f"e{org}", org))
        await sink.wait_for(1, 30, path_prefix=f"/live/{org}")
        await sink.wait_for(1, 30, path_prefix=f"/recovered/{org}")
    finally:
        worker.stop()
