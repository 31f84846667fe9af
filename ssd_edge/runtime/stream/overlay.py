"""Draw detections on a frame: boxes, labels, confidences, per-class colours, FPS.

Flags follow jetson-inference's ``detectnet --overlay``: ``box`` (translucent fill of ``alpha``
plus outline), ``lines`` (outline only), ``labels`` (class name), ``conf`` (confidence in %),
``none`` (draw nothing). Boxes are pixel ``(x1, y1, x2, y2)`` in the frame being drawn.
"""
import colorsys
from dataclasses import dataclass, replace

from ...errors import SsdEdgeError
from .frames import import_cv2

OVERLAY_FLAGS = ("box", "lines", "labels", "conf", "none")
DEFAULT_OVERLAY = "box,labels,conf"
_THIN_BELOW = 40      # pixels: boxes narrower or lower than this are outlined 1 px thick


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

    def for_model(self, num_classes, flags_given=True):
        """These options for a model of ``num_classes`` (background included): a one-class
        model (faces) gets no class name on its boxes unless ``labels`` was asked for."""
        if num_classes == 2 and not flags_given and self.labels:
            return replace(self, labels=False)
        return self

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
    placed = []     # caption rectangles drawn so far: a new one never covers them
    if options.fps and fps:
        text = "%.1f FPS" % fps
        tw = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0]
        _label(cv2, out, text, max(w - tw - 4, 0), 0, (40, 40, 40), placed, inside=True)
    for (x1, y1, x2, y2), cid in zip(boxes, dets.class_ids):
        if options.lines:
            # Small boxes (faces in a crowd) get 1 px lines so neighbours stay apart.
            thick = options.thickness if min(x2 - x1, y2 - y1) >= _THIN_BELOW else 1
            cv2.rectangle(out, (x1, y1), (x2, y2), class_color(cid), thick)
    for i, ((x1, y1, x2, y2), cid) in enumerate(zip(boxes, dets.class_ids)):
        text = _caption(dets, i, options)
        if text:
            _label(cv2, out, text, x1, y1, class_color(cid), placed)
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


def _overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def caption_rect(x, y, size, frame, placed, inside=False):
    """Where a caption of ``size`` ``(w, h)`` goes for a box corner ``(x, y)``: above it, or
    inside the frame's top edge when there is no room; kept inside the frame horizontally and
    moved down, one caption height at a time, past every rectangle in ``placed``.
    Returns ``(x1, y1, x2, y2)``."""
    (cw, ch), (fw, fh) = size, frame
    x = min(max(int(x), 0), max(fw - cw, 0))
    top = y if inside or y - ch < 0 else y - ch
    rect = (x, top, x + cw, top + ch)
    for _ in range(len(placed) + 1):
        hit = [r for r in placed if _overlaps(rect, r)]
        if not hit or rect[3] + ch > fh:
            break
        top = max(r[3] for r in hit)
        rect = (x, top, x + cw, top + ch)
    return rect


def _label(cv2, image, text, x, y, color, placed, inside=False):
    """Text on a filled box of ``color`` at :func:`caption_rect`'s place; adds it to ``placed``."""
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    h, w = image.shape[:2]
    x, top, x2, y2 = caption_rect(x, y, (tw + 4, th + base + 4), (w, h), placed, inside)
    placed.append((x, top, x2, y2))
    cv2.rectangle(image, (x, top), (x2, y2), color, -1)
    lum = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if lum > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, top + th + 2), font, scale, ink, thick, cv2.LINE_AA)
