from django.apps import AppConfig


class CurationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation"
    verbose_name = "Curation"

    def ready(self):
        from django_q.signals import post_spawn

        post_spawn.connect(_resume_on_start, dispatch_uid="curation-resume-on-start")


def _resume_on_start(sender, proc_name=None, **kwargs):
    """A worker that starts (after a crash, a deploy, `kill -9`) queues the resume scan at once
    instead of waiting for the schedule."""
    from django_q.conf import Conf
    from django_q.tasks import async_task

    if Conf.SYNC:  # no workers: each synchronous task "spawns" one, and would queue this again
        return
    try:
        async_task("curation.tasks.resume_stalled_batches", task_name=f"resume-{proc_name or 'worker'}")
    except Exception:  # noqa: BLE001 - the schedule runs it within a minute anyway
        pass
