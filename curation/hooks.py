"""Hooks run for every file that intake accepts.

The PHI report registers one here to count tag values as files pass, so it never rescans the
archive. A hook receives the submission, the indexed Image and the de-identified file's
elements as (tag_path, vr, value) tuples, exactly as the de-identification engine reported them.
Hooks run inside intake's transaction for that file. A hook that takes a `dataset` keyword (or
**kwargs) also gets the de-identified pydicom dataset, for what the elements do not carry (pixels).

Intake takes files a chunk at a time: a hook registered with `many=` (a function taking the
submission and a list of IngestEntry) is called once per chunk, inside the chunk's transaction,
instead of once per file; one without it is called for each file of the chunk.

An *original observer* (register_original_observer) sees each file intake takes before the
de-identification engine changes it, and returns notes (keyed hashes, never the values); intake
adds the engine's result and hands both to the ingest hooks that take an `original` keyword (or
**kwargs) as an Original. The de-identification self-score is built on this.

A hook may defer work to the end of the batch (the PHI report counts values a few hundred files
at a time): batch-end hooks run when intake finishes a batch, with the submission.
"""
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass

IngestHook = Callable[..., None]
_INGEST_HOOKS: list[IngestHook] = []
_MANY: dict = {}  # hook → its form for a whole chunk
_TAKES_DATASET: dict = {}


@dataclass
class IngestEntry:
    """One new file of a chunk, as a hook sees it."""

    image: object
    elements: list
    dataset: object = None
    original: object = None


@dataclass
class Original:
    """What the original observers noted of one file before de-identification, by observer, and
    the engine's result (DeidResult) once it ran."""

    notes: dict
    deid: object = None


_OBSERVERS: list = []


def register_original_observer(fn) -> None:
    """fn(dataset, *, submission) -> notes, called before de-identification."""
    if fn not in _OBSERVERS:
        _OBSERVERS.append(fn)


def unregister_original_observer(fn) -> None:
    if fn in _OBSERVERS:
        _OBSERVERS.remove(fn)


def observe_original(dataset, *, submission) -> Original | None:
    """Each observer's notes; an observer that fails notes None and the file is still taken (the
    observer's own record then shows the file as not observed). Its exception is logged by type
    only: it could quote a value of the original."""
    if not _OBSERVERS:
        return None
    notes = {}
    for fn in list(_OBSERVERS):
        try:
            notes[fn] = fn(dataset, submission=submission)
        except Exception as exc:  # noqa: BLE001
            logging.getLogger(__name__).error("original observer %s failed (%s)", getattr(fn, "__qualname__", fn),
                                              type(exc).__name__)
            notes[fn] = None
    return Original(notes)


_BATCH_END_HOOKS: list[Callable[..., None]] = []


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _accepts_dataset(fn) -> bool:
    return _accepts(fn, "dataset")


def register_ingest_hook(fn: IngestHook, many: Callable[..., None] | None = None) -> IngestHook:
    if fn not in _INGEST_HOOKS:
        _INGEST_HOOKS.append(fn)
    if many is not None:
        _MANY[fn] = many
    return fn


def unregister_ingest_hook(fn: IngestHook) -> None:
    if fn in _INGEST_HOOKS:
        _INGEST_HOOKS.remove(fn)
    _MANY.pop(fn, None)


def has_ingest_hooks() -> bool:
    return bool(_INGEST_HOOKS)


def run_ingest_hooks(*, submission, image, elements, replaced_file=None, dataset=None, original=None) -> None:
    """`dataset`, when the caller has it, is the de-identified pydicom dataset that was stored;
    it goes only to hooks that take a `dataset` (or **kwargs) argument; `original` likewise."""
    _run(list(_INGEST_HOOKS), submission=submission, image=image, elements=elements, replaced_file=replaced_file,
         dataset=dataset, original=original)


def run_ingest_hooks_many(*, submission, entries: list[IngestEntry]) -> None:
    """The hooks for a chunk of new files: each hook's chunk form once, or the hook per file."""
    for hook in list(_INGEST_HOOKS):
        many = _MANY.get(hook)
        if many is not None:
            many(submission=submission, entries=entries)
            continue
        for entry in entries:
            _run([hook], submission=submission, image=entry.image, elements=entry.elements, dataset=entry.dataset,
                 original=entry.original)


def _run(hooks, *, submission, image, elements, replaced_file=None, dataset=None, original=None) -> None:
    for hook in hooks:
        takes = _TAKES_DATASET.get(hook)
        if takes is None:
            takes = _TAKES_DATASET[hook] = (_accepts_dataset(hook), _accepts(hook, "original"))
        extra = {}
        if takes[0]:
            extra["dataset"] = dataset
        if takes[1]:
            extra["original"] = original
        hook(submission=submission, image=image, elements=elements, replaced_file=replaced_file, **extra)


def register_batch_end_hook(fn: Callable[..., None]) -> Callable[..., None]:
    if fn not in _BATCH_END_HOOKS:
        _BATCH_END_HOOKS.append(fn)
    return fn


def run_batch_end_hooks(*, submission) -> None:
    for hook in list(_BATCH_END_HOOKS):
        hook(submission=submission)
