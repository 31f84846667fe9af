"""Draw detections on a frame: boxes, labels, confidences, per-class colours, FPS.

Flags follow jetson-inference's ``detectnet --overlay``: ``box`` (translucent fill of ``alpha``
plus outline), ``lines`` (outline only), ``labels`` (class name), ``conf`` (confidence in %),
``none`` (draw nothing). Boxes are pixel ``(x1, y1, x2, y2)`` in the frame being drawn.
"""
import colorsys
from dataclasses import dataclass

from ...errors import SsdEdgeError
from .frames import import_cv2

OVERLAY_FLAGS = ("box", "lines", "labels", "conf", "none")


@dataclass(frozen=True)
class OverlayOptions:
    """What :func:`draw` draws (``--overlay box,labels,conf`` and ``--alpha``)."""

    box: bool = True
    lines: bool = True
    labels: bool = True
    conf: bool = True
    fps: bool = True
    alpha: float = 0.25
    thickness: int = 2

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise SsdEdgeError("expected --alpha in [0, 1], got %s" % self.alpha)

    @classmethod
    def parse(cls, flags, **kwargs):
        """``"box,labels,conf"`` / ``"lines,labels"`` / ``"none"`` → options."""
        names = [f.strip().lower() for f in str(flags).split(",") if f.strip()]
        bad = [n for n in names if n not in OVERLAY_FLAGS]
        if bad or not names:
            raise SsdEdgeError("expected --overlay as a comma list of %s, got %r"
                               % ("|".join(OVERLAY_FLAGS), flags))
        if "none" in names:
            kwargs.pop("fps", None)
            return cls(box=False, lines=False, labels=False, conf=False, fps=False, **kwargs)
        return cls(box="box" in names, lines="box" in names or "lines" in names,
                   labels="labels" in names, conf="conf" in names, **kwargs)

    @property
    def draws_anything(self):
        return self.box or self.lines or self.labels or self.conf or self.fps


def class_color(class_id):
    """Stable BGR colour for a class id (hues spaced by the golden ratio, so neighbours differ)."""
    h = (int(class_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw(image, dets, options=None, fps=None):
    """Return a copy of ``image`` ((H, W, 3) uint8 BGR) with ``dets`` drawn on it."""
    options = options or OverlayOptions()
    out = image.copy()
    if not options.draws_anything:
        return out
    cv2 = import_cv2()
    h, w = out.shape[:2]
    boxes = [_clip(b, w, h) for b in dets.boxes]
    if options.box and options.alpha > 0 and len(dets):
        fill = out.copy()
        for (x1, y1, x2, y2), cid in zip(boxes, dets.class_ids):
            cv2.rectangle(fill, (x1, y1), (x2, y2), class_color(cid), -1)
        cv2.addWeighted(fill, options.alpha, out, 1.0 - options.alpha, 0.0, dst=out)
    for i, ((x1, y1, x2, y2), cid) in enumerate(zip(boxes, dets.class_ids)):
        color = class_color(cid)
        if options.lines:
            cv2.rectangle(out, (x1, y1), (x2, y2), color, options.thickness)
        text = _caption(dets, i, options)
        if text:
            _label(cv2, out, text, x1, y1, color)
    if options.fps and fps:
        text = "%.1f FPS" % fps
        tw = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0]
        _label(cv2, out, text, max(w - tw - 4, 0), 0, (40, 40, 40), inside=True)   # top right
    return out


def _clip(box, w, h):
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return (min(max(x1, 0), w - 1), min(max(y1, 0), h - 1),
            min(max(x2, 0), w - 1), min(max(y2, 0), h - 1))


def _caption(dets, i, options):
    parts = []
    tid = None if dets.track_ids is None else int(dets.track_ids[i])
    if tid is not None and tid >= 0 and (options.labels or options.conf):
        parts.append("#%d" % tid)
    if options.labels:
        parts.append(dets.labels[i] if dets.labels else str(int(dets.class_ids[i])))
    if options.conf:
        parts.append("%.0f%%" % (100.0 * float(dets.scores[i])))
    return " ".join(parts)


def _label(cv2, image, text, x, y, color, inside=False):
    """Text on a filled box of ``color``, above (x, y) or, without room there, below it."""
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    top = y if inside or y - th - base - 4 < 0 else y - th - base - 4
    cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base + 4), color, -1)
    lum = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if lum > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, top + th + 2), font, scale, ink, thick, cv2.LINE_AA)
