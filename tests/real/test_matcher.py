"""The comparison the real-model tests rely on rejects what it must (no real data needed)."""
import numpy as np

from realdata import mismatch

WANT = [[10.0, 20.0, 30.0, 40.0, 0.9, 1], [50.0, 60.0, 70.0, 80.0, 0.8, 1]]


def test_equal_detections_in_any_order_match():
    got = np.array(WANT[::-1])
    assert mismatch(got, WANT) is None
    assert mismatch(got + [0.4, -0.4, 0.4, 0, 5e-5, 0], WANT) is None


def test_a_count_a_box_a_score_or_a_class_off_is_reported():
    got = np.array(WANT)
    assert "count 1, reference 2" in mismatch(got[:1], WANT)
    assert "no match" in mismatch(got + [0.6, 0, 0, 0, 0, 0], WANT)
    assert "no match" in mismatch(got + [0, 0, 0, 0, 2e-4, 0], WANT)
    assert "no match" in mismatch(got + [0, 0, 0, 0, 0, 1], WANT)
