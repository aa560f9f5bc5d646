"""Find burned-in text in a rendered image with tesseract (Debian's tesseract-ocr via pytesseract).

Plain Python, no Django. Word boxes are merged per text line and padded, so each box can be
proposed to the curator as a mask rectangle. Boxes are returned in the pixel coordinates of
the original DICOM image (`scale` maps preview pixels back)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from PIL import Image, ImageOps

# Modalities and SOP classes where text is usually burned in.
TEXT_MODALITIES = {"US", "SC", "OT", "XC", "ES", "DOC"}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # SC, multi-frame SC variants
ULTRASOUND_PREFIXES = ("1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3.")
WORD = re.compile(r"[A-Za-z0-9]{2,}")


@dataclass(frozen=True)
class TextBox:
    x: int
    y: int
    w: int
    h: int
    text: str
    conf: float

    def as_dict(self) -> dict:
        return asdict(self)


def likely_burned_in(*, modality: str = "", sop_class_uid: str = "", burned_in_annotation: str = "",
                     image_type: str = "", conversion_type: str = "") -> bool:
    """True for ultrasound, secondary capture, screen captures and BurnedInAnnotation YES."""
    if str(burned_in_annotation).strip().upper() == "YES":
        return True
    if str(modality).strip().upper() in TEXT_MODALITIES:
        return True
    sop = str(sop_class_uid)
    if sop.startswith(SECONDARY_CAPTURE_PREFIX) or sop.startswith(ULTRASOUND_PREFIXES):
        return True
    if str(conversion_type).strip().upper() in {"WSD", "SYN", "DRW"}:  # workstation / synthetic / drawing
        return True
    it = str(image_type).upper()
    return "SCREEN" in it or "SECONDARY" in it and "CAPTURE" in it


def available() -> bool:
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
        return True
    except Exception:
        return False


def find_text(img: Image.Image, *, scale: float = 1.0, min_conf: float = 50.0, pad: int = 3,
              timeout: float = 30) -> list[TextBox]:
    """Lines of text found in `img`, padded, in original-image pixels (preview pixel × scale)."""
    import pytesseract

    gray = img.convert("L")
    up = 1
    if max(gray.size) < 800:  # tesseract reads small glyphs better when enlarged
        up = 2
        gray = gray.resize((gray.width * 2, gray.height * 2), Image.Resampling.BICUBIC)
    boxes: list[TextBox] = []
    # Burned-in text is usually light on dark; read both polarities and keep both results.
    for variant in (gray, ImageOps.invert(gray)):
        data = pytesseract.image_to_data(variant, config="--psm 11", output_type=pytesseract.Output.DICT,
                                         timeout=timeout)
        lines: dict = {}
        for i, word in enumerate(data["text"]):
            word = (word or "").strip()
            conf = float(data["conf"][i])
            if conf < 0 or not WORD.search(word):
                continue
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            x, y, w, h = data["left"][i], data["top"][i], data["width"][i], data["height"][i]
            if key in lines:
                lx, ly, lx2, ly2, text, confs = lines[key]
                lines[key] = (min(lx, x), min(ly, y), max(lx2, x + w), max(ly2, y + h), f"{text} {word}",
                              confs + [(conf, word)])
            else:
                lines[key] = (x, y, x + w, y + h, word, [(conf, word)])
        for x0, y0, x1, y1, text, confs in lines.values():
            # A line counts when one of its words is read confidently; its other words are kept
            # whatever their confidence ('DOE^JOHN' is read as 'DOE*JOHN' at 5 %), since recall
            # matters more than precision here: the curator sees every proposed box.
            sure = sum(ch.isalnum() for c, word in confs if c >= min_conf for ch in word)
            if sure < 3:  # two confident letters are as likely noise as text
                continue
            confs = [c for c, _ in confs]
            f = scale / up
            bx, by = max(0, int(x0 * f) - pad), max(0, int(y0 * f) - pad)
            boxes.append(TextBox(bx, by, int((x1 - x0) * f) + 2 * pad, int((y1 - y0) * f) + 2 * pad, text,
                                 round(sum(confs) / len(confs), 1)))
    return _dedupe(boxes)


def _dedupe(boxes: list[TextBox]) -> list[TextBox]:
    """Drop a box mostly inside another (the same line read in both polarities)."""
    out: list[TextBox] = []
    for b in sorted(boxes, key=lambda b: -(b.w * b.h)):
        inside = False
        for k in out:
            ix = max(0, min(b.x + b.w, k.x + k.w) - max(b.x, k.x))
            iy = max(0, min(b.y + b.h, k.y + k.h) - max(b.y, k.y))
            if ix * iy >= 0.6 * b.w * b.h:
                inside = True
                break
        if not inside:
            out.append(b)
    return sorted(out, key=lambda b: (b.y, b.x))
