import numpy as np

from ssd_edge import boxes


def test_center_corner_round_trip():
    rng = np.random.default_rng(1)
    c = np.concatenate([rng.uniform(0, 1, (50, 2)), rng.uniform(0.01, 1, (50, 2))], 1)
    np.testing.assert_allclose(boxes.corner_to_center(boxes.center_to_corner(c)), c, atol=1e-6)


def test_iou_known_values():
    a = np.array([0, 0, 2, 2], np.float32)
    b = np.array([1, 1, 3, 3], np.float32)
    assert abs(float(boxes.iou(a, b, eps=0)) - 1 / 7) < 1e-6
    assert float(boxes.iou(a, np.array([5, 5, 6, 6], np.float32))) == 0.0
    m = boxes.pairwise_iou(np.stack([a, b]), np.stack([a, b]), eps=0)
    np.testing.assert_allclose(m, [[1, 1 / 7], [1 / 7, 1]], atol=1e-6)


def test_encode_decode_inverse_with_variances():
    rng = np.random.default_rng(2)
    priors = np.concatenate([rng.uniform(0.1, 0.9, (30, 2)), rng.uniform(0.05, 0.5, (30, 2))], 1)
    priors = priors.astype(np.float32)
    loc = rng.normal(size=(30, 4)).astype(np.float32)
    dec = boxes.decode(loc, priors, 0.1, 0.2)
    np.testing.assert_allclose(dec[:, :2], loc[:, :2] * 0.1 * priors[:, 2:] + priors[:, :2], rtol=1e-6)
    np.testing.assert_allclose(dec[:, 2:], np.exp(loc[:, 2:] * 0.2) * priors[:, 2:], rtol=1e-6)
    np.testing.assert_allclose(boxes.encode(dec, priors, 0.1, 0.2), loc, atol=1e-4)


def test_detections_refuse_arrays_of_the_wrong_shape_instead_of_reshaping():
    import numpy as np
    import pytest
    from ssd_edge.detections import Detections
    with pytest.raises(ValueError, match=r"boxes of shape \(N, 4\), got \(2, 2\)"):
        Detections(np.zeros((2, 2)), np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match=r"scores of shape \(N\), got \(1, 1\)"):
        Detections(np.zeros((1, 4)), np.zeros((1, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"boxes of shape \(N, 4\), got \(4,\)"):
        Detections(np.zeros(4), np.zeros(1), np.zeros(1))
    empty = Detections(np.zeros(0), [], [])
    assert empty.boxes.shape == (0, 4) and len(empty) == 0
