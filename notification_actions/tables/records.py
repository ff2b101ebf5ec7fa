"""GlobalTables of integrations and directories: id → record, read at fire time."""

from __future__ import annotations

import faust
import orjson

from notification_actions.models import Directory, Integration
from notification_actions.tables.raw import raw_codecs

__all__ = ["DirectoryTable", "IntegrationsTable"]


def _global_table(app: faust.App, name: str, help: str) -> faust.GlobalTable:
    return app.GlobalTable(
        name,
        partitions=1,
        recovery_buffer_size=1,
        use_partitioner=True,
        **raw_codecs(),
        help=help,
    )


class IntegrationsTable:
    """Integration id → record, credentials included (this table is where they live)."""

    def __init__(self, app: faust.App) -> None:
        self.table = _global_table(app, "integrations", "Installed integrations by id.")

    def get(self, integration_id: str | None) -> Integration | None:
        if not integration_id:
            return None
        raw = self.table.get(integration_id.encode())
        return Integration.from_storage(raw) if raw is not None else None

    def put(self, integration: Integration) -> None:
        self.table[integration.id.encode()] = integration.to_storage()

    def delete(self, integration_id: str) -> bool:
        key = integration_id.encode()
        if key in self.table:
            del self.table[key]
            return True
        return False

    def for_organization(self, organization_id: int) -> list[Integration]:
        out = []
        for raw in self.table.values():
            integration = Integration.from_storage(raw)
            if integration.organization_id == organization_id:
                out.append(integration)
        return out


class DirectoryTable:
    """Organization id → its members and teams."""

    def __init__(self, app: faust.App) -> None:
        self.table = _global_table(app, "directory", "Organization members and teams.")

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
