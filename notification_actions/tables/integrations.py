"""GlobalTable of integrations: id → record, credentials included, read at fire time."""

from __future__ import annotations

import faust

from notification_actions.models import Integration
from notification_actions.tables.raw import global_table

__all__ = ["IntegrationsTable"]


class IntegrationsTable:
    """Integration id → record, credentials included (this table is where they live)."""

    def __init__(self, app: faust.App) -> None:
        self.table = global_table(app, "integrations", "Installed integrations by id.")

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
