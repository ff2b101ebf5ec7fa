"""Network probes: does a broker answer, which ports are free."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from notification_actions.kafka.local.jars import LocalKafkaError
from notification_actions.kafka.security import Security

__all__ = ["broker_answers", "free_port_block", "metadata_brokers", "port_free"]


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for part in bootstrap.replace(";", ",").split(","):
        part = part.strip().removeprefix("kafka://")
        if part:
            host, _, port = part.rpartition(":")
            out.append((host or "127.0.0.1", int(port)))
    return out


def _tcp_open(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run_coro(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # A loop runs in this thread: asyncio.run() would refuse, so use a thread of our own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def metadata_brokers(bootstrap: str, timeout: float = 2.0, security: Security | None = None) -> set[int] | None:
    """Node ids of the live brokers in a metadata response, or None if nobody answers.

    ``security``: how to connect (kafka/security.py); plaintext when None.
    """
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    # Only hosts that accept TCP: aiokafka logs an ERROR for every refused one.
    hosts = [f"{h}:{p}" for h, p in _hosts(bootstrap) if _tcp_open(h, p, min(timeout, 1.0))]
    if not hosts:
        return None

    async def ask() -> set[int] | None:
        client = AIOKafkaClient(bootstrap_servers=hosts, request_timeout_ms=int(timeout * 1000),
                                **(security or Security()).client_kwargs())
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return {b.nodeId for b in client.cluster.brokers()}
        except (asyncio.TimeoutError, KafkaError, OSError):
            return None
        finally:
            await client.close()

    return _run_coro(ask())


def broker_answers(bootstrap: str, timeout: float = 2.0, security: Security | None = None) -> bool:
    """True if a broker in ``bootstrap`` (``host:port[,host:port]``) answers a metadata request.

    Callable from sync code, with or without an event loop running in the thread
    (it then blocks that thread for up to ``timeout`` seconds).
    """
    return bool(metadata_brokers(bootstrap, timeout, security))


def port_free(port: int) -> bool:
    """True if a server could bind ``127.0.0.1:port`` now."""
    with socket.socket() as s:
        # Kafka binds with SO_REUSEADDR too, so TIME_WAIT leftovers must not count as busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_block(n: int) -> int:
    """Return a base port P such that P..P+n-1 are all free on 127.0.0.1.

    Chosen at random below the kernel's ephemeral range, where outgoing
    connections cannot grab the ports before the broker binds them.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    start, end = (15000, low - n) if low - n > 16000 else (1024, 65535 - n)
    for _ in range(500):
        base = random.randrange(start, end)
        if all(port_free(base + k) for k in range(n)):
            return base
    raise LocalKafkaError(f"found no {n} consecutive free ports on 127.0.0.1 in {start}..{end}")
