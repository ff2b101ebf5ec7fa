"""Who is in an organization: members (with role and teams) and teams.

Used by ``sentry_notification`` (target identifier = a role such as
``owner``), ``user`` and ``team`` targets.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from notification_actions.models.validation import EmailAddress, NumericId, StrId

__all__ = ["Directory", "Member", "Team"]

Role = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True, to_lower=True)]


def _config() -> ConfigDict:
    return ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        loc_by_alias=False,
    )


class Member(BaseModel):
    """A member of the organization. ``role`` is stored lower-case (``owner``, ``manager``, ``billing``…)."""

    model_config = _config()

    id: StrId
    email: EmailAddress
    role: Role
    teams: list[StrId] = Field(default_factory=list)
    name: str = ""


class Team(BaseModel):
    """A team of the organization; members list the team ids they belong to."""

    model_config = _config()

    id: StrId
    name: str = ""


class Directory(BaseModel):
    """An organization's members and teams, as published on the directory topic.

    Example::

        {"organization_id": 1,
         "members": [{"id": "u1", "email": "jane@acme.io", "role": "owner", "teams": ["backend"]}],
         "teams": [{"id": "backend", "name": "Backend"}]}
    """

    model_config = _config()

    organization_id: NumericId
    members: list[Member] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)

    @field_validator("members", "teams")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id!r}")
            seen.add(item.id)
        return items

    def member(self, member_id: str) -> Member | None:
        """The member with id ``member_id``, or None."""
        return next((m for m in self.members if m.id == member_id), None)

    def team(self, team_id: str) -> Team | None:
        """The team with id ``team_id``, or None."""
        return next((t for t in self.teams if t.id == team_id), None)

    def members_with_role(self, role: str) -> list[Member]:
        """Members whose role is ``role`` (case-insensitive)."""
        wanted = role.strip().lower()
        return [m for m in self.members if m.role == wanted]

    def team_members(self, team_id: str) -> list[Member]:
        """Members who belong to team ``team_id``."""
        return [m for m in self.members if team_id in m.teams]
