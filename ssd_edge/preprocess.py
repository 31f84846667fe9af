"""Frames → network input, exactly as pytorch-ssd's ``PredictionTransform`` (docs/architecture.md §4).

Per frame: channel order per ``spec.channel_order`` (OpenCV gives BGR; the nets want RGB),
``cv2.resize(img, (W, H))`` — a bilinear stretch, no letterbox — on the uint8 image, then
``(x - mean) / std`` in float32 and HWC → CHW. pytorch-ssd resizes the uint8 image too, so the
arithmetic here is the same operations in the same precision, only done for a whole batch at once.

Without OpenCV (a board with ONNX Runtime only) a numpy bilinear resize with OpenCV's pixel-centre
convention is used; it matches ``cv2.resize`` within 1 grey level (OpenCV rounds through 11-bit
fixed-point weights) and is slower. Install ``ssd-edge[cv]`` for exact parity and speed.
"""
import logging

import numpy as np

from .errors import SsdEdgeError

log = logging.getLogger("ssd_edge.runtime")
_warned = []


def check_frame(frame):
    """Raise :class:`SsdEdgeError` unless ``frame`` is an ``(H, W, 3) uint8`` array."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 \
            or frame.dtype != np.uint8 or frame.shape[0] == 0 or frame.shape[1] == 0:
        got = ("a %s with shape %s and dtype %s" % (type(frame).__name__, frame.shape, frame.dtype)
               if isinstance(frame, np.ndarray) else "a %s" % type(frame).__name__)
        raise SsdEdgeError("expected a frame as an HxWx3 uint8 numpy array (BGR, as OpenCV "
                           "reads it), got %s; convert it with cv2.cvtColor / .astype(np.uint8)"
                           % got)


class Preprocessor:
    """Turn BGR uint8 frames into the ``input_0`` batch a spec's network expects.

    Args:
        spec: the :class:`~ssd_edge.spec.DetectorSpec` (``input_size`` (H, W), ``mean``,
            ``std``, ``channel_order``).
        resize: ``"cv2"``, ``"numpy"`` or None (cv2 when importable, else numpy).
    """

    def __init__(self, spec, resize=None):
        h, w = spec.input_size
        self.size = (w, h)                       # OpenCV order: (W, H)
        # Frames arrive BGR; index channels so the output is in the spec's channel order.
        self.order = [2, 1, 0] if spec.channel_order == "RGB" else [0, 1, 2]
        self.mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)
        self._resize = _pick_resize(resize)
        # With OpenCV, normalising is a table look-up per channel: the 256 values of
        # (float32(v) - mean) / std computed with the same float32 operations as the array path
        # (so bit-identical), applied by cv2.LUT straight into each CHW plane: about half the
        # time of the array path's transposed subtract and divide (320x240: ~57 vs ~115 µs).
        self._cv2 = _opencv()
        levels = np.arange(256, dtype=np.float32)
        self._tables = [((levels - self.mean[0, c, 0, 0]) / self.std[0, c, 0, 0]).reshape(256, 1)
                        for c in range(3)]

    def resize(self, frame):
        """Return the ``(H, W, 3) uint8`` stretched frame (channels untouched)."""
        if frame.shape[1] == self.size[0] and frame.shape[0] == self.size[1]:
            return frame
        return self._resize(frame, self.size)

    def __call__(self, frames, out=None):
        """Preprocess a list of frames.

        Args:
            frames: sequence of ``(H_i, W_i, 3) uint8`` BGR frames (sizes may differ).
            out: optional ``(B, 3, H, W) float32`` buffer to fill (B >= len(frames)).
        Returns:
            ``(len(frames), 3, H, W) float32`` in the spec's channel order, normalised.
        """
        w, h = self.size
        n = len(frames)
        if out is None:
            out = np.empty((n, 3, h, w), np.float32)
        else:
            out = out[:n]
        if self._cv2 is not None and out.flags.c_contiguous:
            for i, frame in enumerate(frames):
                check_frame(frame)
                planes = self._cv2.split(self.resize(frame))
                for c, src in enumerate(self.order):
                    # dst is written in place: a contiguous (H, W) float32 plane of ``out``
                    self._cv2.LUT(planes[src], self._tables[c], dst=out[i, c])
            return out
        small = np.empty((n, h, w, 3), np.uint8)
        for i, frame in enumerate(frames):
            check_frame(frame)
            small[i] = self.resize(frame)
        # uint8 → float32 is exact, so this is pytorch-ssd's astype(float32) - mean, / std.
        chw = small.transpose(0, 3, 1, 2)[:, self.order]
        np.subtract(chw, self.mean, out=out, dtype=np.float32)
        np.divide(out, self.std, out=out)
        return out


def _opencv():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _pick_resize(name):
    if name in (None, "cv2"):
        try:
            import cv2
        except ImportError:
            if name == "cv2":
                from .errors import missing_extra
                raise missing_extra("cv2 (opencv-python-headless)", "cv")
            if not _warned:
                _warned.append(True)
                log.warning("OpenCV is not installed; resizing frames with numpy (within 1 grey "
                            "level of cv2.resize, slower). pip install \"ssd-edge[cv]\" for parity")
            return resize_bilinear
        return lambda frame, size: cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    if name == "numpy":
        return resize_bilinear
    raise ValueError("resize must be 'cv2', 'numpy' or None, got %r" % (name,))


def _axis(src, dst):
    """Source indices and weights along one axis, as OpenCV's INTER_LINEAR computes them."""
    scale = src / dst
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0
    # OpenCV clamps at the borders by repeating the edge pixel (weight 0 on the outside one).
    frac[i0 < 0] = 0.0
    i0 = np.clip(i0, 0, src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, frac.astype(np.float32)


def resize_bilinear(frame, size):
    """Bilinear resize of an ``(H, W, C) uint8`` image to ``size=(W, H)`` with numpy.

    Pixel centres as ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` (half-pixel offset,
    edge pixels repeated); results are rounded to uint8 and differ from OpenCV by at most 1.
    """
    w, h = size
    src_h, src_w = frame.shape[:2]
    y0, y1, fy = _axis(src_h, h)
    x0, x1, fx = _axis(src_w, w)
    img = frame.astype(np.float32)
    # Rows first (two gathers of h rows), then columns: h*(W_src) + h*w work, no per-pixel loop.
    top, bottom = img[y0], img[y1]
    rows = top + (bottom - top) * fy[:, None, None]
    left, right = rows[:, x0], rows[:, x1]
    out = left + (right - left) * fx[None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
