"""Drawing the synthetic objects (circle, square, triangle, star) with exact occlusion bookkeeping.

Shapes are drawn in order, later ones over earlier ones. An owner map records which shape each
pixel shows, so every object's box is the box of its *visible* pixels (as a VOC annotator would
draw it) and its visible fraction is known: heavily occluded, mostly out-of-frame or tiny objects
are flagged ``difficult`` (evaluation ignores them), fully hidden ones are not annotated.

Boxes are inclusive 0-based pixel indices ``(xmin, ymin, xmax, ymax)``; the VOC writer adds 1.
"""
from typing import NamedTuple, Tuple

import numpy as np

SHAPES = ("circle", "square", "triangle", "star")

MIN_VISIBLE_PIXELS = 20      # fewer visible pixels: not annotated at all
DIFFICULT_VISIBLE = 0.4      # less than this fraction of the in-frame shape visible: difficult
DIFFICULT_IN_FRAME = 0.3     # less than this fraction of the shape inside the frame: difficult
DIFFICULT_MIN_SIDE = 8       # box narrower or lower than this (pixels): difficult


class ShapeSpec(NamedTuple):
    """One object: ``kind`` indexes SHAPES; centre and circumradius in pixels; angle in radians."""
    kind: int
    cx: float
    cy: float
    radius: float
    angle: float
    colour: Tuple[float, float, float]
    outline: bool = False


def polygon(spec):
    """``(K, 2) float32`` vertices of the shape (a circle is a 48-gon)."""
    name = SHAPES[spec.kind]
    if name == "circle":
        k, radii, phase = 48, np.ones(48), 0.0
    elif name == "square":
        k, radii, phase = 4, np.ones(4), np.pi / 4
    elif name == "triangle":
        k, radii, phase = 3, np.ones(3), -np.pi / 2
    else:
        k, radii, phase = 10, np.tile([1.0, 0.45], 5), -np.pi / 2
    t = spec.angle + phase + 2 * np.pi * np.arange(k) / k
    r = spec.radius * radii
    return np.stack([spec.cx + r * np.cos(t), spec.cy + r * np.sin(t)], axis=1).astype(np.float32)


def random_spec(rng, width, height, min_frac=0.09, max_frac=0.3):
    """A random shape whose circumradius is ``min_frac..max_frac`` of the shorter image side."""
    side = min(width, height)
    return ShapeSpec(kind=int(rng.integers(len(SHAPES))),
                     cx=float(rng.uniform(0.08, 0.92) * width),
                     cy=float(rng.uniform(0.08, 0.92) * height),
                     radius=float(rng.uniform(min_frac, max_frac) * side),
                     angle=float(rng.uniform(0, 2 * np.pi)),
                     colour=tuple(float(c) for c in rng.uniform(0, 255, 3)),
                     outline=bool(rng.random() < 0.3))


def render(background, specs, contrast=True):
    """Draw ``specs`` over ``background`` (``(H, W, 3) float32``, left untouched).

    ``contrast`` pushes each colour away from what lies under the shape (off for video, where a
    colour must not change from frame to frame).

    Returns ``(image float32 (H, W, 3), objects)`` where each object is a dict with ``kind``,
    ``box`` (inclusive pixel indices), ``difficult``, ``occluded``, ``truncated`` and
    ``visible`` (visible pixels / full shape area).
    """
    import cv2
    img = background.copy()
    h, w = img.shape[:2]
    owner = np.full((h, w), -1, np.int16)
    full, in_frame = [], []
    for idx, spec in enumerate(specs):
        poly = polygon(spec)
        pts = [np.round(poly * 16).astype(np.int32)]
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, pts, 1, cv2.LINE_8, 4)
        on = mask.astype(bool)
        colour = contrasting(spec.colour, img, on) if contrast else list(spec.colour)
        cv2.fillPoly(img, pts, colour, cv2.LINE_AA, 4)
        if spec.outline:
            cv2.polylines(img, pts, True, [c * 0.45 for c in colour], 2, cv2.LINE_AA, 4)
        owner[on] = idx
        full.append(max(float(cv2.contourArea(poly)), 1.0))
        in_frame.append(int(on.sum()))
    visible = np.bincount(owner.ravel() + 1, minlength=len(specs) + 1)[1:]
    objects = []
    for idx, spec in enumerate(specs):
        if visible[idx] < MIN_VISIBLE_PIXELS:
            continue
        ys, xs = np.nonzero(owner == idx)
        box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        occl = visible[idx] / max(in_frame[idx], 1)
        frame_frac = in_frame[idx] / full[idx]
        small = min(box[2] - box[0], box[3] - box[1]) + 1 < DIFFICULT_MIN_SIDE
        objects.append({"kind": spec.kind, "box": box,
                        "difficult": bool(occl < DIFFICULT_VISIBLE or
                                          frame_frac < DIFFICULT_IN_FRAME or small),
                        "occluded": bool(occl < 0.95), "truncated": bool(frame_frac < 0.97),
                        "visible": round(float(visible[idx] / full[idx]), 4)})
    return img, objects


def contrasting(colour, canvas, mask):
    """The object's colour, pushed away from what is already drawn under it so it stays visible."""
    colour = np.asarray(colour, np.float32)
    if mask.any():
        under = canvas[mask].mean(axis=0)
        if np.abs(colour - under).sum() < 120:
            colour = np.where(under > 127, under - 110, under + 110)
    return [float(c) for c in np.clip(colour, 0, 255)]


def finish_image(rng, img, light=None, noise=None, blur=None):
    """Photographic degradations → ``uint8`` image: a lighting ramp ``(gx, gy)`` (fraction of
    brightness across the frame), Gaussian sensor noise (sigma, grey levels) and an optional
    Gaussian blur (sigma, pixels; 0 = none). Parameters left None are drawn from ``rng``."""
    import cv2
    h, w = img.shape[:2]
    # Python floats keep the arithmetic in float32 (a NumPy float64 scalar would promote it).
    gx, gy = (float(v) for v in (rng.uniform(-0.25, 0.25, 2) if light is None else light))
    noise = float(rng.uniform(0, 10)) if noise is None else float(noise)
    if blur is None:
        blur = float(rng.uniform(0.5, 1.5)) if rng.random() < 0.4 else 0.0
    ramp = (1.0 + gx * (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
            + gy * (np.arange(h, dtype=np.float32) / h - 0.5)[:, None])
    img = img * ramp[..., None]
    if noise > 0:
        img = img + noise * rng.standard_normal(img.shape, dtype=np.float32)
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
