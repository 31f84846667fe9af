"""UltraFace's specs without torch: its size table, per-axis priors and the resolution rules."""
import numpy as np
import pytest

from ssd_edge import SsdEdgeError
from ssd_edge.models.specs import (ULTRAFACE_SIZES, default_spec, parse_resolution,
                                   table_size)

# UltraFace's define_img_size table: feature maps (W list, H list) per input width.
UPSTREAM_MAPS = {128: [[16, 8, 4, 2], [12, 6, 3, 2]], 160: [[20, 10, 5, 3], [15, 8, 4, 2]],
                 320: [[40, 20, 10, 5], [30, 15, 8, 4]], 480: [[60, 30, 15, 8], [45, 23, 12, 6]],
                 640: [[80, 40, 20, 10], [60, 30, 15, 8]],
                 1280: [[160, 80, 40, 20], [120, 60, 30, 15]]}


@pytest.mark.parametrize("width", sorted(UPSTREAM_MAPS))
def test_levels_follow_ultraface_table(width):
    spec = default_spec("ultraface-rfb", ["BACKGROUND", "face"], width)
    h, w = spec.input_size
    assert (w, h) == (width, width * 3 // 4) and ULTRAFACE_SIZES[width] == (h, w)
    ws, hs = UPSTREAM_MAPS[width]
    assert [lv.feature_map_size for lv in spec.prior_levels] == list(zip(hs, ws))
    assert [lv.min_size for lv in spec.prior_levels] == [(10, 16, 24), (32, 48), (64, 96),
                                                        (128, 192, 256)]
    assert all(lv.max_size is None and lv.aspect_ratios == () for lv in spec.prior_levels)
    assert spec.num_priors == sum(m_h * m_w * n for m_h, m_w, n in zip(hs, ws, (3, 2, 2, 3)))


def test_prior_counts_ultraface_prints():
    # UltraFace prints "priors nums:4420" at 320 and 17640 at 640.
    assert default_spec("ultraface-slim", 2).num_priors == 4420
    assert default_spec("ultraface-slim", 2, 640).num_priors == 17640


def test_box_sizes_are_pixels_at_every_resolution():
    small, big = (default_spec("ultraface-slim", 2, n).priors() for n in (320, 640))
    # The first prior is a 10 px box at both sizes: its normalised size halves at 640.
    np.testing.assert_allclose(small[0, 2:], [10 / 320, 10 / 240], rtol=1e-6)
    np.testing.assert_allclose(big[0, 2:], [10 / 640, 10 / 480], rtol=1e-6)
    np.testing.assert_allclose(small[0, :2], [0.5 / 40, 0.5 / 30], rtol=1e-6)


def test_ultraface_defaults_are_detect_imgs_settings():
    spec = default_spec("ultraface-rfb", 3)
    assert (spec.mean, spec.std) == ((127.0,) * 3, (128.0,) * 3)
    n = spec.nms
    assert (n.conf_threshold, n.iou_threshold, n.candidate_size, n.top_k, n.max_detections) == \
        (0.6, 0.3, 1500, 750, -1)


@pytest.mark.parametrize("value, arch, want", [
    (None, "ultraface-slim", (240, 320)), (None, "mb1-ssd", (300, 300)),
    (320, "ultraface-rfb", (240, 320)), ("640", "ultraface-rfb", (480, 640)),
    ("1280", "ultraface-rfb", (960, 1280)), (400, "ultraface-rfb", (300, 400)),
    ("320x240", "ultraface-rfb", (240, 320)), ("300X200", "mb1-ssd", (200, 300)),
    (512, "mb1-ssd", (512, 512)), ("512", "mb1-ssd", (512, 512)), ((240, 320), "mb1-ssd", (240, 320)),
])
def test_parse_resolution(value, arch, want):
    assert parse_resolution(value, arch) == want


@pytest.mark.parametrize("value, needle", [
    ("big", "N or WxH"), ("3x2x1", "N or WxH"), (0, "positive"), (-5, "positive"), (2.5, "positive"),
    ((1, 2, 3), "(H, W) pair"),
])
def test_parse_resolution_errors_say_expected_and_got(value, needle):
    with pytest.raises(SsdEdgeError) as e:
        parse_resolution(value, "mb1-ssd")
    assert needle in str(e.value) and "got" in str(e.value)


def test_odd_ultraface_width_needs_wxh():
    with pytest.raises(SsdEdgeError, match="WxH"):
        parse_resolution(321, "ultraface-slim")
    assert table_size("ultraface-slim") == (240, 320)
