"""The registry: the seed's decorator, its import-time errors, and lookups."""

from __future__ import annotations

import pytest

from notification_actions.errors import RegistrationError, UnknownRegistration
from notification_actions.models import ActionService, ActionTarget, ActionTrigger, NotificationAction
from notification_actions.registrations.base import REGISTRY, ActionInput, ActionRegistration, FireResult, Registry


@pytest.fixture
def registry() -> Registry:
    return Registry()


def make(name: str = "Reg") -> type[ActionRegistration]:
    async def fire(self, data):
        return FireResult(status=200, detail="ok")

    return type(name, (ActionRegistration,), {"fire": fire})


def test_seed_style_registration_with_int_values(registry: Registry) -> None:
    @registry.register_action(
        trigger_type=ActionTrigger.AUDIT_LOG.value,
        service_type=ActionService.SLACK.value,
        target_type=ActionTarget.SPECIFIC.value,
    )
    class SlackAuditLogRegistration(ActionRegistration):
        async def fire(self, data) -> None:
            return None

    triple = (ActionTrigger.AUDIT_LOG, ActionService.SLACK, ActionTarget.SPECIFIC)
    cls = SlackAuditLogRegistration
    assert (cls.trigger_type, cls.service_type, cls.target_type) == triple
    assert registry.get(*triple) is cls
    assert registry.get("audit-log", "slack", "specific") is cls
    assert registry.get(0, "2", "SPECIFIC") is cls
    assert triple in registry and ("audit-log", 2, 0) in registry
    assert ("quota", 2, 0) not in registry and ("nope", 2, 0) not in registry and "x" not in registry
    assert list(registry) == [cls] and len(registry) == 1
    assert registry.for_service("slack") == [cls] and registry.for_service(ActionService.EMAIL) == []
    assert registry.for_trigger(0) == [cls] and registry.triples() == [triple]
    assert cls.validate_action.__func__ is ActionRegistration.validate_action.__func__
    assert cls.serialize_available(1) == []


def test_mixed_value_kinds(registry: Registry) -> None:
    cls = registry.register_action(ActionTrigger.SPIKE_PROTECTION, "sentry_notification", 0)(make())
    assert registry.find(100, 5, "specific") is cls


def test_duplicate_triple_names_both_classes(registry: Registry) -> None:
    registry.register_action(0, 2, 0)(make("First"))
    with pytest.raises(RegistrationError) as exc_info:
        registry.register_action("audit-log", "slack", "specific")(make("Second"))
    text = str(exc_info.value)
    assert "trigger 'audit-log', service 'slack', target 'specific'" in text
    assert "First" in text and "Second" in text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((99, 2, 0), "trigger_type=99"),
        ((0, "carrier-pigeon", 0), "service_type='carrier-pigeon'"),
        ((0, 2, 7), "target_type=7"),
    ],
)
def test_unknown_value_names_argument_and_value(registry: Registry, args, named) -> None:
    with pytest.raises(RegistrationError) as exc_info:
        registry.register_action(*args)
    assert named in str(exc_info.value)
    assert "expected one of" in str(exc_info.value)
    assert len(registry) == 0


def test_missing_fire_is_refused(registry: Registry) -> None:
    with pytest.raises(RegistrationError, match=r"NoFire registered for trigger 'quota'.* does not override fire\(\)"):

        @registry.register_action(3, 0, 0)
        class NoFire(ActionRegistration):
            pass

    assert len(registry) == 0


def test_sync_fire_is_refused(registry: Registry) -> None:
    with pytest.raises(RegistrationError, match="SyncFire.fire must be an async def"):

        @registry.register_action(3, 0, 0)
        class SyncFire(ActionRegistration):
            def fire(self, data):  # type: ignore[override]
                return None


def test_inherited_fire_is_enough(registry: Registry) -> None:
    base = make("Base")
    child = registry.register_action(1, 0, 0)(type("Child", (base,), {}))
    assert registry.get(1, 0, 0) is child


def test_non_registration_class_is_refused(registry: Registry) -> None:
    with pytest.raises(RegistrationError, match="is not an ActionRegistration subclass"):

        @registry.register_action(0, 0, 0)
        class Plain:
            async def fire(self, data):
                return None


def test_one_class_one_triple(registry: Registry) -> None:
    cls = registry.register_action(0, 0, 0)(make("Once"))
    with pytest.raises(RegistrationError, match="Once already carries trigger_type='audit-log'.*subclass it"):
        registry.register_action(1, 0, 0)(cls)
    # The same triple in another registry is fine.
    assert Registry().register_action(0, 0, 0)(cls) is cls


def test_missing_triple_lookup(registry: Registry) -> None:
    with pytest.raises(UnknownRegistration) as exc_info:
        registry.get("billing", "jira", "team")
    assert str(exc_info.value) == "no registration for trigger 'billing', service 'jira', target 'team'"
    with pytest.raises(UnknownRegistration, match="trigger_type='bogus'"):
        registry.get("bogus", "jira", "team")
    assert registry.find("billing", "jira", "team") is None
    assert registry.find("bogus", "jira", "team") is None
    assert isinstance(exc_info.value, LookupError)


def test_unregister(registry: Registry) -> None:
    cls = registry.register_action(0, 0, 0)(make())
    assert registry.unregister("audit-log", "email", "specific") is cls
    assert len(registry) == 0 and "trigger_type" not in vars(cls)
    with pytest.raises(UnknownRegistration):
        registry.unregister(0, 0, 0)


def test_notification_action_register_action_uses_default_registry() -> None:
    triple = (ActionTrigger.BILLING, ActionService.WEBHOOK, ActionTarget.SENTRY_APP)
    assert REGISTRY.find(*triple) is None, "the test triple must be free in REGISTRY"
    before = len(REGISTRY)
    try:

        @NotificationAction.register_action(
            trigger_type=ActionTrigger.BILLING.value,
            service_type=ActionService.WEBHOOK.value,
            target_type=ActionTarget.SENTRY_APP.value,
        )
        class TestOnlyRegistration(ActionRegistration):
            async def fire(self, data) -> None:
                return None

        assert REGISTRY.get(*triple) is TestOnlyRegistration
        assert len(REGISTRY) == before + 1
    finally:
        if REGISTRY.find(*triple) is not None:
            REGISTRY.unregister(*triple)
    assert len(REGISTRY) == before


def test_registration_instance_and_default_fire() -> None:
    action = NotificationAction.model_validate(
        {"id": 1, "organization_id": 1, "trigger_type": 0, "service_type": 0, "target_type": 0}
    )
    registration = ActionRegistration(action, context=None)  # type: ignore[arg-type]
    assert registration.action is action
    with pytest.raises(NotImplementedError):
        registration.fire(None).send(None)  # type: ignore[arg-type]
    ActionRegistration.validate_action(ActionInput(action, None, None, settings=None))  # type: ignore[arg-type]
