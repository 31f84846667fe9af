"""One-class models (faces) are drawn without label clutter, small boxes with thin lines."""
import numpy as np
import pytest

from ssd_edge.detections import Detections
from ssd_edge.runtime.stream.overlay import DEFAULT_OVERLAY, OverlayOptions, draw

cv2 = pytest.importorskip("cv2")


def test_default_overlay_drops_the_class_name_for_one_class_models():
    opts = OverlayOptions.parse(DEFAULT_OVERLAY)
    assert opts.for_model(2, flags_given=False).labels is False
    assert opts.for_model(2, flags_given=False).conf is True
    assert opts.for_model(21, flags_given=False).labels is True
    assert opts.for_model(2, flags_given=True).labels is True      # asked for: kept


def _dets(box):
    return Detections(np.array([box], np.float32), np.array([0.9], np.float32),
                      np.array([1]), ["face"])


def test_small_boxes_get_one_pixel_lines():
    img = np.zeros((100, 100, 3), np.uint8)
    opts = OverlayOptions(box=False, labels=False, conf=False, fps=False)
    small = draw(img, _dets([10, 10, 30, 30]), opts)
    big = draw(img, _dets([10, 10, 90, 90]), opts)
    assert small[20, 10].any() and not small[20, 11].any()        # 1 px outline
    assert big[50, 10].any() and big[50, 11].any()                # 2 px outline
