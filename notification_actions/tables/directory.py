"""GlobalTable of directories: organization id → members and teams (email recipients)."""

from __future__ import annotations

import faust
import orjson

from notification_actions.models import Directory
from notification_actions.tables.raw import global_table

__all__ = ["DirectoryTable"]


class DirectoryTable:
    """Organization id → its members and teams."""

    def __init__(self, app: faust.App) -> None:
        self.table = global_table(app, "directory", "Organization members and teams.")

    def get(self, organization_id: int) -> Directory | None:
        raw = self.table.get(str(organization_id).encode())
        return Directory.model_validate(orjson.loads(raw)) if raw is not None else None

    def put(self, directory: Directory) -> None:
        self.table[str(directory.organization_id).encode()] = orjson.dumps(directory.model_dump(mode="json"))

    def delete(self, organization_id: int) -> bool:
        key = str(organization_id).encode()
        if key in self.table:
            del self.table[key]
            return True
        return False
