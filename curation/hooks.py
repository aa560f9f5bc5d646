"""Hooks run for every file that intake accepts.

The PHI report registers one here to count tag values as files pass, so it never rescans the
archive. A hook receives the submission, the indexed Image and the de-identified file's
elements as (tag_path, vr, value) tuples, exactly as the de-identification engine reported them.
Hooks run inside intake's transaction for that file. A hook that takes a `dataset` keyword (or
**kwargs) also gets the de-identified pydicom dataset, for what the elements do not carry (pixels).

A hook may defer work to the end of the batch (the PHI report counts values a few hundred files
at a time): batch-end hooks run when intake finishes a batch, with the submission.
"""
import inspect
from collections.abc import Callable

IngestHook = Callable[..., None]
_INGEST_HOOKS: list[IngestHook] = []
_TAKES_DATASET: dict = {}
_BATCH_END_HOOKS: list[Callable[..., None]] = []


def _accepts_dataset(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "dataset" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def register_ingest_hook(fn: IngestHook) -> IngestHook:
    if fn not in _INGEST_HOOKS:
        _INGEST_HOOKS.append(fn)
    return fn


def unregister_ingest_hook(fn: IngestHook) -> None:
    if fn in _INGEST_HOOKS:
        _INGEST_HOOKS.remove(fn)


def has_ingest_hooks() -> bool:
    return bool(_INGEST_HOOKS)


def run_ingest_hooks(*, submission, image, elements, replaced_file=None, dataset=None) -> None:
    """`dataset`, when the caller has it, is the de-identified pydicom dataset that was stored;
    it goes only to hooks that take a `dataset` (or **kwargs) argument."""
    for hook in list(_INGEST_HOOKS):
        takes = _TAKES_DATASET.get(hook)
        if takes is None:
            takes = _TAKES_DATASET[hook] = _accepts_dataset(hook)
        if takes:
            hook(submission=submission, image=image, elements=elements, replaced_file=replaced_file, dataset=dataset)
        else:
            hook(submission=submission, image=image, elements=elements, replaced_file=replaced_file)


def register_batch_end_hook(fn: Callable[..., None]) -> Callable[..., None]:
    if fn not in _BATCH_END_HOOKS:
        _BATCH_END_HOOKS.append(fn)
    return fn


def run_batch_end_hooks(*, submission) -> None:
    for hook in list(_BATCH_END_HOOKS):
        hook(submission=submission)
