"""The registry: which ``ActionRegistration`` class serves each (trigger, service, target).

A container and nothing else: it knows registrations only by the marks the
base class in ``registrations/base.py`` gives them (``_is_action_registration``
on the class, ``_not_overridden`` on the base ``fire``), so the models need
not import the registrations. ``REGISTRY`` is the default instance that the
seed's decorator ``NotificationAction.register_action`` fills.

Mistakes are errors at import time (``RegistrationError``): an unknown enum
value, the same triple twice, a class that is no ``ActionRegistration`` or
that has no ``async def fire``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from notification_actions.errors import RegistrationError, UnknownRegistration
from notification_actions.models.enums import ActionService, ActionTarget, ActionTrigger

__all__ = ["REGISTRY", "Registry", "Triple"]

Triple = tuple[ActionTrigger, ActionService, ActionTarget]

R = TypeVar("R")


_ARGS: tuple[tuple[str, Any], ...] = (
    ("trigger_type", ActionTrigger),
    ("service_type", ActionService),
    ("target_type", ActionTarget),
)


def _describe(triple: Triple) -> str:
    return f"trigger {triple[0].slug!r}, service {triple[1].slug!r}, target {triple[2].slug!r}"


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry:
    """The registrations by (trigger, service, target). Values may be members, ints or slugs."""

    def __init__(self) -> None:
        self._by_triple: dict[Triple, type] = {}

    @staticmethod
    def triple(trigger: Any, service: Any, target: Any) -> Triple:
        """Parse the three values; ``RegistrationError`` names the argument and value if one is unknown."""
        parsed = []
        for (arg, enum_cls), value in zip(_ARGS, (trigger, service, target)):
            try:
                parsed.append(enum_cls.parse(value))
            except ValueError as exc:
                raise RegistrationError(f"{arg}={value!r}: {exc}") from None
        return (parsed[0], parsed[1], parsed[2])

    def register_action(
        self, trigger_type: Any, service_type: Any, target_type: Any
    ) -> Callable[[type[R]], type[R]]:
        """Decorator registering a class for the triple; see the module docstring."""
        triple = self.triple(trigger_type, service_type, target_type)

        def decorate(cls: type[R]) -> type[R]:
            self._check(cls, triple)
            cls.trigger_type, cls.service_type, cls.target_type = triple
            self._by_triple[triple] = cls
            return cls

        return decorate

    def _check(self, cls: Any, triple: Triple) -> None:
        if not (isinstance(cls, type) and getattr(cls, "_is_action_registration", False)):
            raise RegistrationError(f"{cls!r} registered for {_describe(triple)} is not an ActionRegistration subclass")
        if getattr(getattr(cls, "fire", None), "_not_overridden", False):
            raise RegistrationError(f"{_name(cls)} registered for {_describe(triple)} does not override fire()")
        if not inspect.iscoroutinefunction(cls.fire):
            raise RegistrationError(f"{_name(cls)}.fire must be an async def")
        existing = self._by_triple.get(triple)
        if existing is not None:
            raise RegistrationError(
                f"{_describe(triple)} is registered twice: by {_name(existing)} and by {_name(cls)}"
            )
        held = tuple(vars(cls).get(attr) for attr, _ in _ARGS)
        if held != (None, None, None) and held != triple:
            # A class carries its triple in class attributes, so it can hold only one.
            shown = ", ".join(f"{attr}={getattr(v, 'slug', v)!r}" for (attr, _), v in zip(_ARGS, held))
            raise RegistrationError(
                f"{_name(cls)} already carries {shown}; subclass it to register {_describe(triple)}"
            )

    def unregister(self, trigger: Any, service: Any, target: Any) -> type:
        """Remove and return a registration (for tests); ``UnknownRegistration`` if absent."""
        cls = self.get(trigger, service, target)
        del self._by_triple[cls.trigger_type, cls.service_type, cls.target_type]
        for attr in ("trigger_type", "service_type", "target_type"):
            if attr in vars(cls):
                delattr(cls, attr)
        return cls

    def get(self, trigger: Any, service: Any, target: Any) -> type:
        """The registration for the triple, or ``UnknownRegistration`` naming it."""
        try:
            triple = self.triple(trigger, service, target)
        except RegistrationError as exc:
            raise UnknownRegistration(f"no registration: {exc}") from None
        cls = self._by_triple.get(triple)
        if cls is None:
            raise UnknownRegistration(f"no registration for {_describe(triple)}")
        return cls

    def find(self, trigger: Any, service: Any, target: Any) -> type | None:
        """The registration for the triple, or None (also for unknown values)."""
        try:
            return self.get(trigger, service, target)
        except UnknownRegistration:
            return None

    def for_service(self, service: Any) -> list[type]:
        """Registrations of one service, in (trigger, target) order."""
        wanted = ActionService.parse(service)
        return [cls for triple, cls in sorted(self._by_triple.items()) if triple[1] is wanted]

    def for_trigger(self, trigger: Any) -> list[type]:
        """Registrations of one trigger, in (service, target) order."""
        wanted = ActionTrigger.parse(trigger)
        return [cls for triple, cls in sorted(self._by_triple.items()) if triple[0] is wanted]

    def triples(self) -> list[Triple]:
        """The registered triples, sorted."""
        return sorted(self._by_triple)

    def __iter__(self) -> Iterator[type]:
        return iter([cls for _, cls in sorted(self._by_triple.items())])

    def __len__(self) -> int:
        return len(self._by_triple)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 3:
            return False
        return self.find(*item) is not None

    def __repr__(self) -> str:
        return f"<Registry: {len(self)} registrations>"


REGISTRY = Registry()
"""The default registry: ``NotificationAction.register_action`` registers here."""
