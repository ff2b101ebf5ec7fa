"""Regular expressions that tenants write (``regex`` conditions), run in linear time.

Python's ``re`` backtracks: ``^(\\w+\\s?)*$`` against a 40-character string
that does not match takes longer than the universe, and it ran on the event
loop — every tenant stalled, and after a restart the worker hung on the same
record again. Patterns therefore go to RE2 (``google-re2``), whose matching
time is linear in the subject, with its memory bounded by
:data:`MAX_PROGRAM_BYTES`. RE2 refuses what it cannot run in linear time
(backreferences, lookaround): such an action is refused when it is validated,
with RE2's reason. Only the first :data:`MAX_SUBJECT_CHARS` characters of a
value are searched.
"""

from __future__ import annotations

from typing import Any

import re2

__all__ = ["MAX_PATTERN_CHARS", "MAX_PROGRAM_BYTES", "MAX_SUBJECT_CHARS", "Pattern", "compile_pattern", "search"]

MAX_PATTERN_CHARS = 1000
MAX_PROGRAM_BYTES = 1 << 20
MAX_SUBJECT_CHARS = 4096

Pattern = Any  # re2's compiled pattern (its type is not exported)

_OPTIONS = re2.Options()
_OPTIONS.max_mem = MAX_PROGRAM_BYTES
_OPTIONS.log_errors = False  # our error carries the reason; RE2 would also print it to stderr


def compile_pattern(text: str) -> Pattern:
    """RE2's compiled ``text``; ``ValueError`` with RE2's reason when it refuses it."""
    if not isinstance(text, str) or len(text) > MAX_PATTERN_CHARS:
        raise ValueError(f"op 'regex' needs a string pattern of at most {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(text, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", errors="replace")
        raise ValueError(f"regular expression refused by RE2 (linear-time matching only): {reason}") from None


def search(pattern: Pattern, subject: str) -> bool:
    """Whether ``pattern`` occurs in the first :data:`MAX_SUBJECT_CHARS` characters of ``subject``."""
    return pattern.search(subject[:MAX_SUBJECT_CHARS]) is not None
