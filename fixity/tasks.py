"""django-q2 tasks of the fixity audit (the schedule is made by migration 0002)."""


def scheduled_run(trigger: str = "schedule") -> str:
    from .services import run_audit

    result = run_audit(trigger=trigger)
    if result.run is None:
        return result.skipped
    return f"{result.run.files_checked} files, {result.run.bytes_checked} bytes, {result.run.failures} failures"
