"""The one key map of the review pages. The viewer's JavaScript reads it from the page (JSON)
and the help panel lists it, so a key can never do one thing and be documented as another.

Bindings are a list, not a dict literal, because a dict literal silently keeps the last of two
equal keys; `build()` refuses duplicates (case-sensitive: 'a' and 'A' are different keys in
KeyboardEvent.key) and a test checks the shipped list."""

# (KeyboardEvent.key, action, argument, label shown on screen)
BINDINGS: list[tuple[str, str, str, str]] = [
    # verdicts (TCIA's set); on a class page they judge the whole class, in the viewer one image
    ("a", "verdict", "ok", "Good: no burned-in text, the expected anatomy; go on"),
    ("b", "verdict", "bad", "Bad (wrong body part, corrupt, not what the collection is about)"),
    ("l", "verdict", "blank", "Blank: no image content"),
    ("s", "verdict", "scout", "Scout / localizer"),
    ("o", "verdict", "other", "Other (asks for a note)"),
    ("p", "verdict", "phi", "Flag for masking: burned-in text (in the viewer: draw the mask)"),
    ("c", "take", "", "Take this class: your 15-minute lease starts now"),
    ("d", "drill", "", "Drill down: review this class image by image"),
    ("ArrowDown", "slice", "1", "Next image (also the mouse wheel)"),
    ("ArrowRight", "slice", "1", "Next image"),
    ("j", "slice", "1", "Next image"),
    ("ArrowUp", "slice", "-1", "Previous image"),
    ("ArrowLeft", "slice", "-1", "Previous image"),
    ("k", "slice", "-1", "Previous image"),
    ("PageDown", "slice", "10", "Ten images on"),
    ("PageUp", "slice", "-10", "Ten images back"),
    ("Home", "slice", "first", "First image"),
    ("End", "slice", "last", "Last image"),
    ("n", "next_unreviewed", "", "Next image without a verdict"),
    ("]", "frame", "1", "Next frame (multi-frame images)"),
    ("[", "frame", "-1", "Previous frame"),
    ("1", "window", "lung", "Window: CT lung"),
    ("2", "window", "mediastinum", "Window: CT mediastinum"),
    ("3", "window", "bone", "Window: CT bone"),
    ("4", "window", "brain", "Window: CT brain"),
    ("5", "window", "abdomen", "Window: CT abdomen"),
    ("6", "window", "percentile", "Window: percentile (MR, PT)"),
    ("0", "window", "default", "Window: the file's own (or the modality default)"),
    ("f", "fidelity", "", "Toggle full fidelity (16-bit, windowed in the browser) / preview"),
    ("+", "zoom", "in", "Zoom in"),
    ("=", "zoom", "in", "Zoom in"),
    ("-", "zoom", "out", "Zoom out"),
    ("z", "zoom", "reset", "Fit to the window"),
    ("m", "mask", "", "Draw a mask on this image"),
    ("t", "proposals", "", "Use the detected text boxes as the mask"),
    ("Enter", "approve", "", "Mask: preview, then approve"),
    ("Escape", "cancel", "", "Cancel the mask or close a dialog"),
    ("g", "grid", "", "Back to the thumbnail grid"),
    ("?", "help", "", "Show or hide these shortcuts"),
]


class DuplicateKey(ValueError):
    pass


def build(bindings=BINDINGS) -> dict[str, dict]:
    keymap: dict[str, dict] = {}
    for key, action, arg, label in bindings:
        if key in keymap:
            raise DuplicateKey(f"key {key!r} is bound twice: {keymap[key]['label']!r} and {label!r}")
        keymap[key] = {"action": action, "arg": arg, "label": label}
    return keymap


KEYMAP = build()


def key_for(action: str, arg: str = "") -> str:
    """The first key bound to an action, for labels on buttons ('OK (a)')."""
    for key, action_, arg_, _ in BINDINGS:
        if action_ == action and arg_ == arg:
            return key
    return ""


def help_rows() -> list[tuple[str, str]]:
    """Keys grouped by what they do, for the on-screen list."""
    rows: dict[str, list[str]] = {}
    for key, _, _, label in BINDINGS:
        rows.setdefault(label, []).append(key)
    return [(" / ".join(keys), label) for label, keys in rows.items()]
