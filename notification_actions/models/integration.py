"""An organization's installed integration: who we talk to, and with which credentials.

Credentials are ``SecretStr``: ``repr``, ``str``, ``model_dump()`` and
``model_dump_json()`` show ``**********``. Only :meth:`Integration.to_storage`
(for the integrations topic and its changelog) and :meth:`Integration.secret`
(for a ``fire()`` that needs the value) reveal them.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    SerializationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from notification_actions.errors import InvalidAction
from notification_actions.models.enums import ActionService
from notification_actions.models.validation import NumericId, StrId, parse_record

__all__ = ["MASK", "Integration"]

MASK = "**********"
"""What a secret looks like wherever it is shown."""

_REVEAL = "reveal_secrets"


def _validate_credential(value: Any) -> SecretStr | dict[str, SecretStr]:
    # Messages never include the value: it is a secret.
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, SecretStr):
                out[str(key)] = item
            elif isinstance(item, str):
                out[str(key)] = SecretStr(item)
            else:
                raise ValueError(f"expected a string for key {key!r} of this credential")
        return out
    raise ValueError("expected a string or an object of strings")


def _serialize_credential(value: Any, info: SerializationInfo) -> Any:
    reveal = bool(info.context and info.context.get(_REVEAL))

    def one(secret: SecretStr) -> Any:
        if reveal:
            return secret.get_secret_value()
        return MASK if info.mode == "json" else secret

    if isinstance(value, dict):
        return {key: one(item) for key, item in value.items()}
    return one(value)


Credential = Annotated[
    SecretStr | dict[str, SecretStr],
    PlainValidator(_validate_credential),
    PlainSerializer(_serialize_credential),
    WithJsonSchema(
        {"anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}]}
    ),
]


class Integration(BaseModel):
    """An installed integration (Slack workspace, PagerDuty account, webhook secret, …).

    ``provider`` is an ``ActionService`` slug. Credentials are a map of
    secrets, one level of nesting allowed (PagerDuty's ``integration_keys``:
    ``{service_id: routing_key}``).

    Example::

        {"id": "7", "organization_id": 1, "provider": "slack", "name": "Acme Slack",
         "credentials": {"bot_token": "xoxb-..."},
         "metadata": {"channels": [{"id": "C024BE91L", "name": "#alerts"}]}}
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        loc_by_alias=False,
    )

    id: StrId
    organization_id: NumericId
    provider: str
    name: str = ""
    credentials: dict[str, Credential] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider", mode="before")
    @classmethod
    def _known_provider(cls, value: Any) -> str:
        return ActionService.parse(value).slug

    @property
    def service(self) -> ActionService:
        """``provider`` as an ``ActionService``."""
        return ActionService.parse(self.provider)

    def secret(self, name: str, sub: str | None = None) -> str | None:
        """The revealed value of credential ``name`` (or of key ``sub`` inside it), or None."""
        value = self.credentials.get(name)
        if sub is not None:
            value = value.get(sub) if isinstance(value, dict) else None
        return value.get_secret_value() if isinstance(value, SecretStr) else None

    def redacted(self) -> dict[str, Any]:
        """A JSON-able dict for CLI and HTTP output: every secret shown as ``**********``."""
        return self.model_dump(mode="json")

    def to_storage(self) -> bytes:
        """JSON with the secrets revealed: only for the integrations topic and its changelog."""
        return orjson.dumps(self.model_dump(mode="json", context={_REVEAL: True}))

    @classmethod
    def from_storage(cls, raw: bytes | bytearray | memoryview | str | dict[str, Any]) -> Integration:
        """Read what :meth:`to_storage` wrote (or a record from the topic); ``InvalidAction`` if invalid."""
        return parse_record(cls, raw, error_cls=InvalidAction)
