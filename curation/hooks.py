"""Hooks run for every file that intake accepts.

The PHI report registers one here to count tag values as files pass, so it never rescans the
archive. A hook receives the submission, the indexed Image and the de-identified file's
elements as (tag_path, vr, value) tuples, exactly as the de-identification engine reported them.
Hooks run inside intake's transaction for that file.
"""
from collections.abc import Callable

IngestHook = Callable[..., None]
_INGEST_HOOKS: list[IngestHook] = []


def register_ingest_hook(fn: IngestHook) -> IngestHook:
    if fn not in _INGEST_HOOKS:
        _INGEST_HOOKS.append(fn)
    return fn


def unregister_ingest_hook(fn: IngestHook) -> None:
    if fn in _INGEST_HOOKS:
        _INGEST_HOOKS.remove(fn)


def has_ingest_hooks() -> bool:
    return bool(_INGEST_HOOKS)


def run_ingest_hooks(*, submission, image, elements, replaced_file=None) -> None:
    for hook in list(_INGEST_HOOKS):
        hook(submission=submission, image=image, elements=elements, replaced_file=replaced_file)
