"""One helper to write the audit trail."""
from .models import AuditEvent


def log(action: str, *, actor=None, obj=None, reason: str = "", **data) -> AuditEvent:
    """Record `action` by `actor` on `obj` with free-form details in `data`.

    Call it inside the service's transaction so the event and the change commit together.
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        reason=reason,
        data=data,
    )
