"""The SSD training augmentations and the evaluation transform (numpy + OpenCV).

Each transform takes and returns ``(image, boxes, labels)``: ``image (H, W, 3)`` float32 BGR in
0..255, ``boxes (N, 4)`` float32 pixel corner boxes, ``labels (N,)`` int64. The chain follows the
SSD paper and pytorch-ssd's ``TrainAugmentation``: photometric distortion → zoom-out (expand onto
a canvas of the mean colour, up to 4×) → SSD random crop (minimum-IoU sampling) → mirror → stretch
to the network size → normalise with the spec's mean/std in its channel order. Randomness comes
from a ``numpy.random.Generator`` passed in, so a seed reproduces a run.
"""
import numpy as np

from .targets import iou_matrix


def _cv2():
    import cv2
    return cv2


# ---- photometric distortion -------------------------------------------------------------

def _brightness(img, rng, delta=32.0):
    if rng.random() < 0.5:
        img += rng.uniform(-delta, delta)
    return img


def _contrast(img, rng, lo=0.5, hi=1.5):
    if rng.random() < 0.5:
        img *= rng.uniform(lo, hi)
    return img


def _hsv_jitter(img, rng, lo=0.5, hi=1.5, hue=18.0):
    """Saturation scale and hue shift (degrees) in HSV, each with probability 1/2."""
    cv2 = _cv2()
    hsv = cv2.cvtColor(np.clip(img, 0, 255), cv2.COLOR_BGR2HSV)   # float32: H in [0, 360)
    if rng.random() < 0.5:
        hsv[..., 1] *= rng.uniform(lo, hi)
    if rng.random() < 0.5:
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue)) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1], 0, 1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def _channel_swap(img, rng):
    if rng.random() < 0.5:
        img = img[..., rng.permutation(3)]
    return img


def photometric_distort(image, boxes, labels, rng):
    """Brightness, then contrast before or after saturation/hue, then a random channel swap."""
    img = _brightness(image.astype(np.float32, copy=True), rng)
    if rng.random() < 0.5:
        img = _hsv_jitter(_contrast(img, rng), rng)
    else:
        img = _contrast(_hsv_jitter(img, rng), rng)
    img = _channel_swap(np.clip(img, 0, 255), rng)
    return np.ascontiguousarray(img, np.float32), boxes, labels


# ---- geometry ---------------------------------------------------------------------------

def expand(image, boxes, labels, rng, fill, max_ratio=4.0):
    """Zoom out: with probability 1/2 place the image on a canvas up to ``max_ratio`` times larger,
    filled with ``fill`` (BGR, the dataset mean), so small objects are seen at small scale."""
    if rng.random() < 0.5:
        return image, boxes, labels
    h, w, c = image.shape
    ratio = rng.uniform(1.0, max_ratio)
    left = int(rng.uniform(0, w * ratio - w))
    top = int(rng.uniform(0, h * ratio - h))
    canvas = np.empty((int(h * ratio), int(w * ratio), c), np.float32)
    canvas[...] = np.asarray(fill, np.float32)
    canvas[top:top + h, left:left + w] = image
    return canvas, boxes + np.float32([left, top, left, top]), labels


# The SSD paper's sampling options: the whole image, a crop whose IoU with some object is at least
# 0.1 / 0.3 / 0.7 / 0.9, or any crop.
_CROP_MIN_IOU = (None, 0.1, 0.3, 0.7, 0.9, -1.0)


def random_crop(image, boxes, labels, rng, trials=50):
    """SSD random crop: sides 0.3..1 of the image, aspect 0.5..2, objects kept when their centre
    lies inside the crop (clipped to it); retries until the sampled minimum IoU is met."""
    h, w = image.shape[:2]
    if len(boxes) == 0:
        return image, boxes, labels
    while True:
        min_iou = _CROP_MIN_IOU[rng.integers(len(_CROP_MIN_IOU))]
        if min_iou is None:
            return image, boxes, labels
        for _ in range(trials):
            cw, ch = rng.uniform(0.3 * w, w), rng.uniform(0.3 * h, h)
            if not 0.5 <= ch / cw <= 2.0:
                continue
            x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
            rect = np.float32([[int(x0), int(y0), int(x0 + cw), int(y0 + ch)]])
            if iou_matrix(boxes, rect)[:, 0].max() < min_iou:
                continue
            centers = (boxes[:, :2] + boxes[:, 2:]) / 2
            keep = np.all((centers > rect[0, :2]) & (centers < rect[0, 2:]), 1)
            if not keep.any():
                continue
            x1, y1, x2, y2 = (int(v) for v in rect[0])
            cropped = boxes[keep].copy()
            cropped[:, :2] = np.maximum(cropped[:, :2], rect[0, :2]) - rect[0, :2]
            cropped[:, 2:] = np.minimum(cropped[:, 2:], rect[0, 2:]) - rect[0, :2]
            return image[y1:y2, x1:x2], cropped, labels[keep]


def mirror(image, boxes, labels, rng):
    if rng.random() < 0.5:
        w = image.shape[1]
        image = image[:, ::-1]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    return image, boxes, labels


# ---- to the network ---------------------------------------------------------------------

class ToNetwork:
    """Stretch to the spec's input size (``cv2.resize`` bilinear, as the runtime does), normalise
    with its mean/std in its channel order, and make boxes relative to the image.

    Returns ``(chw (3, H, W) float32, boxes (N, 4) float32 in [0, 1], labels (N,))``.
    """

    def __init__(self, spec):
        self.h, self.w = spec.input_size
        self.order = [2, 1, 0] if spec.channel_order == "RGB" else [0, 1, 2]
        self.mean = np.asarray(spec.mean, np.float32)
        self.std = np.asarray(spec.std, np.float32)

    def __call__(self, image, boxes, labels):
        cv2 = _cv2()
        h, w = image.shape[:2]
        rel = (boxes / np.float32([w, h, w, h])).astype(np.float32) if len(boxes) else \
            np.zeros((0, 4), np.float32)
        # Resized in the dtype it comes in: a uint8 frame gives exactly the runtime's input.
        img = cv2.resize(np.ascontiguousarray(image), (self.w, self.h),
                         interpolation=cv2.INTER_LINEAR)
        img = (img[..., self.order].astype(np.float32) - self.mean) / self.std
        return np.ascontiguousarray(img.transpose(2, 0, 1), np.float32), rel, labels

    @property
    def fill_bgr(self):
        """The mean colour in BGR 0..255, for zoom-out canvases."""
        return self.mean[np.argsort(self.order)]


class TrainTransform:
    """The full training chain for one sample; ``rng`` a ``numpy.random.Generator``."""

    def __init__(self, spec, zoom_out=4.0):
        self.net = ToNetwork(spec)
        self.zoom_out = float(zoom_out)

    def __call__(self, image, boxes, labels, rng):
        args = (image, np.asarray(boxes, np.float32).reshape(-1, 4),
                np.asarray(labels, np.int64).reshape(-1))
        args = photometric_distort(*args, rng)
        if self.zoom_out > 1.0:
            args = expand(*args, rng, fill=self.net.fill_bgr, max_ratio=self.zoom_out)
        args = random_crop(*args, rng)
        args = mirror(*args, rng)
        return self.net(*args)


class EvalTransform:
    """No augmentation: what the runtime does to a frame (validation loss)."""

    def __init__(self, spec):
        self.net = ToNetwork(spec)

    def __call__(self, image, boxes, labels, rng=None):
        return self.net(image, np.asarray(boxes, np.float32).reshape(-1, 4),
                        np.asarray(labels, np.int64).reshape(-1))
