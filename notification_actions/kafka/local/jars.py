"""Kafka's runtime jars from Maven Central, downloaded once into a cache; and Java."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from notification_actions.errors import NotificationActionsError

__all__ = ["DEFAULT_CACHE_DIR", "LocalKafkaError", "ensure_jars", "find_java"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "notification-actions"
_POM = Path(__file__).resolve().parent / "pom.xml"
MARKER = ".complete"
_TAIL = 40


class LocalKafkaError(NotificationActionsError):
    """The local broker could not be provisioned, started or stopped."""


def tail(text: str, n: int = _TAIL) -> str:
    """The last ``n`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-n:])


def log_tail(path: Path, n: int = _TAIL) -> str:
    """The last ``n`` lines of the file at ``path`` (or why it cannot be read)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 64_000))
            return tail(f.read().decode("utf-8", "replace"), n)
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def _mvn(args: list[str], what: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            f"Maven ('mvn') is not on PATH; it is needed once to {what}. "
            "Install Maven (e.g. `apt-get install maven`) and try again."
        )
    proc = subprocess.run(
        [mvn, "-q", "-B", "-f", str(_POM), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        out = tail(proc.stdout + proc.stderr) or "(no output)"
        raise LocalKafkaError(f"mvn failed (exit {proc.returncode}) trying to {what}; its last lines:\n{out}")


def ensure_jars(version: str, cache_dir: Path | None = None) -> Path:
    """Return the directory holding Kafka ``version``'s runtime jars, downloading them once.

    The jars live in ``cache_dir/kafka-<version>/libs`` (``cache_dir`` defaults to
    ``~/.cache/notification-actions``). Maven fills a temporary directory that is
    renamed into place only when complete (a marker file inside says so), so an
    interrupted or concurrent run never leaves a half-filled ``libs``. A second
    call with the marker present runs nothing.
    """
    base = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser() / f"kafka-{version}"
    libs = base / "libs"
    if (libs / MARKER).is_file():
        return libs
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob("libs.tmp-*"):  # left by interrupted runs
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    if libs.exists():  # not made by this function: it only renames complete dirs
        shutil.rmtree(libs)
    tmp = Path(tempfile.mkdtemp(prefix="libs.tmp-", dir=base))
    try:
        log.info("downloading Apache Kafka %s jars with Maven into %s", version, libs)
        _mvn(
            ["dependency:copy-dependencies", f"-Dkafka.version={version}", f"-DoutputDirectory={tmp}"],
            f"download the Apache Kafka {version} jars into {libs}",
        )
        if not any(tmp.glob("kafka_2.13-*.jar")):
            raise LocalKafkaError(f"mvn ran but put no kafka_2.13 jar into {tmp} (pom {_POM})")
        (tmp / MARKER).write_text(f"Apache Kafka {version}: complete\n")
        tmp.chmod(0o755)  # mkdtemp made it private; the cache is meant to be shared
        try:
            os.rename(tmp, libs)
        except OSError:
            if not (libs / MARKER).is_file():
                raise
            # a concurrent call finished first; its copy is as good as ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return libs


def find_java() -> str:
    """Path of the ``java`` to run Kafka with: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError("Java ('java') is not on PATH and JAVA_HOME is unset; Kafka needs Java 17 or newer.")
    return java
