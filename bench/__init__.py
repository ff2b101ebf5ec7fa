"""Benchmark harness of notification-actions: ``python -m bench`` (see bench/README.md)."""
