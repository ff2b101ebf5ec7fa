"""Keeping Python's cyclic garbage collector off the action index.

Every worker holds every action (100,000 of them are ~90 MB of objects). The
collector's full collections walk all live objects: here one took 0.2 s with
100,000 actions, a pause in the middle of the stream, and the work grows with
the index while no event gets any cheaper. Objects that live as long as the
process do not need walking, so after the index is built (and after large
config changes) :func:`settle` collects once and moves every surviving object
to the permanent generation (``gc.freeze``). Reference counting still frees
an action that is deleted or replaced; only cycles among frozen objects would
wait, and actions form none.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)

__all__ = ["paused", "settle"]


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside (bulk building of long-lived objects); restores the previous state."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def settle(reason: str) -> None:
    """Collect once, then exempt every surviving object from future collections."""
    started = time.monotonic()
    gc.collect()
    gc.freeze()
    log.info("heap settled after %s: %d objects frozen in %.2fs", reason, gc.get_freeze_count(),
             time.monotonic() - started)
