"""Export parity figures prove something: enough detections compared, n/a instead of a fake
100 %, and NaN / Inf never passing."""
import numpy as np
import pytest

from ssd_edge.errors import SsdEdgeError
from ssd_edge.export import parity as par
from ssd_edge.spec import DetectorSpec, PriorLevel


def spec():
    return DetectorSpec(arch="mb1-ssd", labels=("BACKGROUND", "a", "b"),
                        prior_levels=[PriorLevel(1, 300, 60, 105)])


def raw(n=32, p=100, score=0.0, seed=0):
    """``n`` images of ``p`` priors; prior 0..2 of every image holds class 1 at ``score``."""
    rng = np.random.default_rng(seed)
    scores = np.zeros((n, p, 3), np.float32)
    scores[..., 0] = 1.0
    boxes = np.sort(rng.uniform(0, 1, (n, p, 4)).astype(np.float32).reshape(n, p, 2, 2), 2)
    boxes = boxes.transpose(0, 1, 3, 2).reshape(n, p, 4)
    boxes[:, :3] = [[0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.9, 0.9], [0.1, 0.6, 0.3, 0.95]]
    scores[:, :3, 1], scores[:, :3, 0] = score, 1 - score
    return scores, boxes


def test_enough_detections_at_the_spec_threshold():
    ref = raw(score=0.9)
    p = par.compare_raw(spec(), ref, ref)
    assert p.agreement == 1.0 and p.detections == 96 and p.conf == 0.4 and p.inputs == 32
    assert "agreement 100.0% (96 detections at conf 0.4, 32 inputs)" in p.line()


def test_threshold_steps_down_until_50_detections():
    ref = raw(score=0.15)                # nothing at 0.4 / 0.3 / 0.2; 96 at 0.1
    p = par.compare_raw(spec(), ref, ref)
    assert p.conf == 0.1 and p.detections == 96 and p.agreement == 1.0


def test_no_detections_is_reported_na_never_100_percent():
    ref = raw(score=0.0)
    p = par.compare_raw(spec(), ref, ref)
    assert p.agreement is None and "n/a" in p.line() and "100" not in p.line()
    assert par.warn_reduced(p, "int8") is None
    few = raw(n=8, score=0.9)            # 24 detections < 50
    assert par.compare_raw(spec(), few, few).agreement is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["scores", "boxes"])
def test_nan_or_inf_fails_every_precision(bad, where):
    ref = raw(score=0.9)
    test = [ref[0].copy(), ref[1].copy()]
    test[0 if where == "scores" else 1][3, 50, 1] = bad
    p = par.compare_raw(spec(), ref, tuple(test))
    assert p.nonfinite == 1
    for check in (par.check_finite, par.check_fp32):
        with pytest.raises(SsdEdgeError, match="NaN/Inf"):
            check(p, "m.onnx")


def test_fp32_tolerance_is_not_fooled_by_nan_in_the_difference():
    p = par.Parity(float("nan"), 0.0, 1.0, 60, 32, 0.4, 0)
    with pytest.raises(SsdEdgeError, match="max"):
        par.check_fp32(p, "m.onnx")
