"""Calibration and check inputs: the user's images through the spec's exact pre-processing."""
import os

import numpy as np

from ..errors import SsdEdgeError
from ..fileio import IMAGE_EXTENSIONS as IMAGE_EXTS
from ..imagecheck import read_image

#: INT8 without calibration images: the one message (random calibration is never used).
CALIB_REQUIRED = ("--int8 needs --calib DIR: a folder of images like the ones the camera will "
                  "see (random calibration is never used)")


def list_images(folder):
    """Sorted image paths in ``folder`` (recursively), by extension."""
    if not folder or not os.path.isdir(str(folder)):
        raise SsdEdgeError("--calib folder %s does not exist; expected a folder of images "
                           "like the ones the camera will see" % folder)
    found = []
    for root, _, files in os.walk(str(folder)):
        found += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTS)]
    return sorted(found)


def load_calibration(folder, spec, count=300, seed=0):
    """Decode up to ``count`` images from ``folder`` (an even spread over the sorted list) and
    pre-process them. Returns ``(N, 3, H, W) float32``.

    Raises SsdEdgeError when the folder is missing, holds no images, or none decode.
    """
    import cv2
    from ..preprocess import Preprocessor

    pre = Preprocessor(spec)
    paths = list_images(folder)
    if not paths:
        raise SsdEdgeError("--calib folder %s holds no images (looked for %s)"
                           % (folder, ", ".join(IMAGE_EXTS)))
    if len(paths) > count:
        pick = np.linspace(0, len(paths) - 1, count).round().astype(int)
        paths = [paths[i] for i in pick]
    frames = []
    for p in paths:
        try:
            img = read_image(p)         # a header claiming a huge size is skipped undecoded
        except SsdEdgeError:
            img = None
        if img is not None:
            frames.append(pre([img])[0])
    if not frames:
        raise SsdEdgeError("--calib folder %s: found %d image files but none could be decoded"
                           % (folder, len(paths)))
    return np.stack(frames).astype(np.float32)


def generated_frames(n, size=(480, 640), seed=0):
    """``n`` deterministic BGR uint8 frames ``(H, W, 3)`` with coloured shapes on a textured
    background — parity inputs when the user gives no images (never used for calibration)."""
    import cv2
    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for _ in range(n):
        yy, xx = np.mgrid[0:h, 0:w]
        base = (np.sin(xx / rng.uniform(10, 60)) * 40 + np.cos(yy / rng.uniform(10, 60)) * 40 + 120)
        img = np.clip(base[..., None] + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        for _ in range(rng.integers(2, 6)):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(15, h // 3))
            if rng.random() < 0.5:
                cv2.circle(img, (cx, cy), r, colour, -1)
            else:
                cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
        out.append(img)
    return out


def check_inputs(spec, calib=None, n=32, seed=0):
    """Parity inputs ``(n, 3, H, W)``: the first calibration images when given, topped up with
    generated scenes when there are fewer than ``n``."""
    from ..preprocess import Preprocessor
    have = calib[:n] if calib is not None and len(calib) else np.zeros((0, 3) + tuple(
        spec.input_size), np.float32)
    if len(have) >= n:
        return have
    extra = Preprocessor(spec)(generated_frames(n - len(have), seed=seed))
    return np.concatenate([have, np.asarray(extra, np.float32)])
