"""Random backgrounds for the synthetic data: gradients, smooth noise ("clouds"), blurred colour
blobs (out-of-focus, photo-like), low-contrast stripes, plus thin clutter lines.

Every function draws only from the ``numpy.random.Generator`` it is given, so a seed fixes the
pixels. Images are ``(H, W, 3) float32`` in [0, 255], BGR like everything OpenCV touches.
"""
import numpy as np


def random_background(rng, width, height):
    """A background made of one or two of the generators below, blended, with clutter lines."""
    makers = (gradient, clouds, blobs, stripes)
    first = makers[rng.integers(len(makers))](rng, width, height)
    if rng.random() < 0.5:
        second = makers[rng.integers(len(makers))](rng, width, height)
        alpha = float(rng.uniform(0.2, 0.6))
        first = (1 - alpha) * first + alpha * second
    clutter_lines(rng, first)
    return first


def _colour(rng, lo=0, hi=255):
    return rng.uniform(lo, hi, 3).astype(np.float32)


def _ramp(rng, width, height):
    """``(H, W)`` float32 in [0, 1] along a random direction."""
    theta = rng.uniform(0, 2 * np.pi)
    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    t = x * np.float32(np.cos(theta)) + y * np.float32(np.sin(theta))
    t -= t.min()
    return t / max(float(t.max()), 1e-6)


def gradient(rng, width, height):
    t = _ramp(rng, width, height)[..., None]
    return (1 - t) * _colour(rng) + t * _colour(rng)


def clouds(rng, width, height):
    """Smooth multi-scale noise: random low-resolution grids upsampled bicubically and summed."""
    import cv2
    out = np.zeros((height, width, 3), np.float32)
    base = _colour(rng, 40, 215)
    for cells, amp in ((4, 60.0), (12, 30.0), (40, 12.0)):
        grid = rng.normal(0, 1, (cells * height // width + 2, cells + 2, 3)).astype(np.float32)
        out += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out + base, 0, 255)


def blobs(rng, width, height):
    """Out-of-focus scene: random filled ellipses of random colours, heavily blurred."""
    import cv2
    img = np.empty((height, width, 3), np.float32)
    img[:] = _colour(rng)
    for _ in range(int(rng.integers(6, 20))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(width // 16, width // 3)), int(rng.integers(height // 16, height // 3)))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                    _colour(rng).tolist(), -1)
    sigma = float(rng.uniform(6, 16)) * width / 320
    return cv2.GaussianBlur(img, (0, 0), sigma)


def stripes(rng, width, height):
    """Low-contrast sinusoidal stripes or a checker pattern (a texture, not an object)."""
    t = _ramp(rng, width, height)
    period = float(rng.uniform(6, 40))
    wave = np.sin(2 * np.pi * t * max(width, height) / period)
    if rng.random() < 0.4:
        wave = wave * np.sin(2 * np.pi * _ramp(rng, width, height) * max(width, height) / period)
    wave = (0.5 + 0.5 * wave)[..., None]
    a = _colour(rng)
    b = np.clip(a + rng.uniform(-70, 70, 3), 0, 255).astype(np.float32)
    return (1 - wave) * a + wave * b


def clutter_lines(rng, img):
    """Draw a few thin random lines in place (hard negatives: edges that are no shape)."""
    import cv2
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 5))):
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p, q, _colour(rng).tolist(), int(rng.integers(1, 3)), cv2.LINE_AA)
