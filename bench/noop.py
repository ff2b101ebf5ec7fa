"""A registration that does nothing, for measuring the pipeline without a service behind it.

Imported by the worker's boot script (``bench.procs.BOOT``) before the CLI
runs, so the package stays untouched. It takes (audit-log, sentry_app,
specific): no real registration uses ``sentry_app`` with target
``specific`` (sentry_app actions target ``sentry_app``).
"""

from notification_actions.models import ActionService, ActionTarget, ActionTrigger, NotificationAction
from notification_actions.registrations.base import REGISTRY, ActionRegistration, FireResult

TRIPLE = (ActionTrigger.AUDIT_LOG, ActionService.SENTRY_APP, ActionTarget.SPECIFIC)

if REGISTRY.find(*TRIPLE) is not None and REGISTRY.find(*TRIPLE).__module__ != __name__:
    raise RuntimeError(f"bench.noop: {TRIPLE} is taken by a real registration; pick another free triple")


@NotificationAction.register_action(
    trigger_type=TRIPLE[0].value, service_type=TRIPLE[1].value, target_type=TRIPLE[2].value
)
class NoopRegistration(ActionRegistration):
    """Fires instantly and successfully."""

    async def fire(self, data) -> FireResult | None:
        return None
