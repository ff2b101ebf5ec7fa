"""registrations/catalog.py lists exactly what is registered, by slugs and class name."""

from __future__ import annotations

import notification_actions.registrations  # noqa: F401  (registers every service)
from notification_actions.models.registry import REGISTRY
from notification_actions.registrations.catalog import CATALOG


def registered() -> set[tuple[str, str, str, str]]:
    return {
        (cls.trigger_type.slug, cls.service_type.slug, cls.target_type.slug, cls.__name__)
        for cls in REGISTRY
    }


def _rows(rows: set[tuple[str, str, str, str]]) -> str:
    """The rows as they are written in catalog.py, ready to paste."""
    return "\n".join("    (" + ", ".join(f'"{part}"' for part in row) + ")," for row in sorted(rows))


def test_the_catalog_is_the_registry():
    listed, actual = set(CATALOG), registered()
    missing, extra = actual - listed, listed - actual
    problems = []
    if missing:
        problems.append(f"registered but not in registrations/catalog.py (add these rows):\n{_rows(missing)}")
    if extra:
        problems.append(f"in registrations/catalog.py but not registered (remove these rows):\n{_rows(extra)}")
    assert not problems, "\n".join(problems)


def test_the_catalog_is_sorted_and_has_each_row_once():
    assert len(set(CATALOG)) == len(CATALOG), "a row appears twice"
    assert list(CATALOG) == sorted(CATALOG), "keep the rows sorted (trigger, service, target, class name)"


def test_each_class_is_defined_by_its_service_module():
    """The catalog's docstring sends readers to ``registrations/<service>.py``; keep that true."""
    wrong = sorted(
        f"{cls.__name__} is in {cls.__module__}"
        for cls in REGISTRY
        if cls.__module__ != f"notification_actions.registrations.{cls.service_type.slug}"
    )
    assert not wrong, "\n".join(wrong)


def test_a_disagreement_names_the_rows():
    """The check itself: a registration gone and one not listed are each reported by name."""
    from notification_actions.registrations.base import ActionRegistration, FireResult

    async def fire(self, data):
        return FireResult(status=200, detail="ok")

    unlisted = ("audit-log", "slack", "user")
    assert REGISTRY.find(*unlisted) is None, "the test triple must be free in REGISTRY"
    before = len(REGISTRY)
    gone = REGISTRY.unregister("quota", "webhook", "specific")
    try:
        REGISTRY.register_action(*unlisted)(type("CatalogTestOnlyRegistration", (ActionRegistration,), {"fire": fire}))
        try:
            test_the_catalog_is_the_registry()
        except AssertionError as exc:
            message = str(exc)
        else:
            raise AssertionError("the catalog check noticed nothing")
        assert '("audit-log", "slack", "user", "CatalogTestOnlyRegistration"),' in message
        assert '("quota", "webhook", "specific", "WebhookQuotaRegistration"),' in message
        assert message.index("CatalogTestOnly") < message.index("not registered") < message.index("WebhookQuota")
    finally:
        if REGISTRY.find(*unlisted) is not None:
            REGISTRY.unregister(*unlisted)
        REGISTRY.register_action("quota", "webhook", "specific")(gone)
    assert REGISTRY.get("quota", "webhook", "specific") is gone and len(REGISTRY) == before
