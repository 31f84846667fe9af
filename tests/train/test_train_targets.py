"""Prior matching, box encoding, MultiBox loss and the augmentations, against literal references."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from ssd_edge.models.specs import default_spec  # noqa: E402
from ssd_edge.train.augment import (EvalTransform, TrainTransform, expand, mirror,  # noqa: E402
                                    photometric_distort, random_crop)
from ssd_edge.train.loss import MultiBoxLoss, hard_negative_mask  # noqa: E402
from ssd_edge.train.targets import PriorMatcher, center_to_corner  # noqa: E402

SPEC = default_spec("mb1-ssd", ["BACKGROUND", "a", "b", "c"])


def reference_assign(gt_boxes, gt_labels, corner_priors, threshold):
    """pytorch-ssd's assign_priors, as a per-element loop."""
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
        return inter / (area(a) + area(b) - inter + 1e-5)
    ious = np.array([[iou(p, g) for g in gt_boxes] for p in corner_priors])
    best_t = ious.argmax(1)
    best_iou = ious.max(1)
    best_p = ious.argmax(0)
    for t, p in enumerate(best_p):
        best_t[p] = t
    best_iou[best_p] = 2
    labels = np.array([gt_labels[t] for t in best_t])
    labels[best_iou < threshold] = 0
    return labels, gt_boxes[best_t]


def test_matching_equals_the_reference_loop():
    rng = np.random.default_rng(3)
    matcher = PriorMatcher(SPEC.priors(), SPEC.center_variance, SPEC.size_variance)
    sub = slice(2166, None)           # the coarse levels: small enough for the loop
    m_small = PriorMatcher(SPEC.priors()[sub], 0.1, 0.2)
    for _ in range(5):
        xy = rng.uniform(0, 0.7, (4, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.3, (4, 2))], 1).astype(np.float32)
        labels = rng.integers(1, 4, 4)
        locs, got = m_small(boxes, labels)
        want, matched = reference_assign(boxes, labels, m_small.corner, 0.5)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(m_small.decode(locs), matched, atol=1e-5)
        assert (got > 0).sum() >= 4 or len(set(got[got > 0])) <= 4   # every object has a prior
    locs, labels = matcher(np.zeros((0, 4)), np.zeros(0))
    assert locs.shape == (3000, 4) and not labels.any()


def test_every_object_claims_a_prior_even_below_threshold():
    m = PriorMatcher(SPEC.priors(), 0.1, 0.2)
    tiny = np.float32([[0.50, 0.50, 0.51, 0.51]])    # IoU with every prior far below 0.5
    _, labels = m(tiny, [2])
    assert (labels == 2).sum() == 1


def test_encode_decode_round_trip():
    m = PriorMatcher(SPEC.priors(), 0.1, 0.2)
    boxes = center_to_corner(np.clip(SPEC.priors() * 1.1, 0.01, 1))
    from ssd_edge.train.targets import corner_to_center
    np.testing.assert_allclose(m.decode(m.encode(corner_to_center(boxes))), boxes, atol=1e-5)


def test_hard_negative_mask_keeps_positives_and_three_times_the_hardest_negatives():
    loss = torch.tensor([[5.0, 1.0, 4.0, 3.0, 2.0, 0.5, 6.0, 0.1, 0.2, 0.3]])
    labels = torch.tensor([[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]])
    mask = hard_negative_mask(loss, labels, 3)
    assert mask[0].nonzero().flatten().tolist() == [0, 1, 2, 6]   # positive + 6, 5, 4


def test_multibox_loss_equals_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    conf = torch.randn(2, 50, 4, generator=g)
    loc = torch.randn(2, 50, 4, generator=g)
    gt = torch.randn(2, 50, 4, generator=g)
    labels = torch.zeros(2, 50, dtype=torch.long)
    labels[0, :3] = torch.tensor([1, 2, 3])
    labels[1, 10] = 2
    reg, cls = MultiBoxLoss()(conf, loc, labels, gt)
    n_pos = 4
    want_cls, want_reg = 0.0, 0.0
    for b in range(2):
        logp = torch.log_softmax(conf[b], 1)
        pos = labels[b] > 0
        neg_order = [i for i in torch.argsort(-logp[:, 0], descending=True).tolist()
                     if not pos[i]]
        chosen = pos.nonzero().flatten().tolist() + neg_order[:3 * int(pos.sum())]
        want_cls += float(sum(-logp[i, labels[b, i]] for i in chosen))
        want_reg += float(torch.nn.functional.smooth_l1_loss(loc[b][pos], gt[b][pos],
                                                             reduction="sum"))
    assert float(cls) == pytest.approx(want_cls / n_pos, rel=1e-5)
    assert float(reg) == pytest.approx(want_reg / n_pos, rel=1e-5)


def _scene(rng):
    """A frame with three solid rectangles of distinct colours and their pixel boxes."""
    img = np.full((240, 320, 3), 40, np.uint8)
    boxes = np.float32([[20, 30, 90, 100], [150, 60, 260, 200], [270, 10, 310, 60]])
    for (x1, y1, x2, y2), c in zip(boxes.astype(int), ((0, 0, 255), (0, 255, 0), (255, 0, 0))):
        img[y1:y2, x1:x2] = c
    return img, boxes, np.int64([1, 2, 3])


def _painted_box(img, colour, tol=60):
    ys, xs = np.nonzero(np.all(np.abs(img.astype(int) - colour) < tol, -1))
    return np.float32([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) if len(xs) else None


@pytest.mark.parametrize("seed", range(12))
def test_geometric_augmentations_move_boxes_with_the_pixels(seed):
    rng = np.random.default_rng(seed)
    img, boxes, labels = _scene(rng)
    out = (img.astype(np.float32), boxes, labels)
    out = expand(*out, rng, fill=(40, 40, 40))
    out = random_crop(*out, rng)
    out = mirror(*out, rng)
    image, b, lab = out
    assert len(b) == len(lab) >= 1
    colours = {1: (0, 0, 255), 2: (0, 255, 0), 3: (255, 0, 0)}
    for box, k in zip(b, lab):
        painted = _painted_box(image, colours[int(k)])
        assert painted is not None
        np.testing.assert_allclose(box, painted, atol=1.5)


def test_photometric_distortion_keeps_geometry_and_range():
    rng = np.random.default_rng(0)
    img, boxes, labels = _scene(rng)
    for _ in range(10):
        out, b, lab = photometric_distort(img, boxes, labels, rng)
        assert out.shape == img.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 255
        assert b is boxes and lab is labels


def test_train_and_eval_transforms_give_network_tensors():
    img, boxes, labels = _scene(None)
    chw, rel, lab = EvalTransform(SPEC)(img, boxes, labels)
    assert chw.shape == (3, 300, 300) and chw.dtype == np.float32
    np.testing.assert_allclose(rel, boxes / np.float32([320, 240, 320, 240]))
    # Same pixels as the runtime's preprocessing of the frame.
    from ssd_edge.runtime.preprocess import Preprocessor
    np.testing.assert_allclose(chw, Preprocessor(SPEC)([img])[0], atol=1e-4)
    chw, rel, lab = TrainTransform(SPEC)(img, boxes, labels, np.random.default_rng(1))
    assert chw.shape == (3, 300, 300) and len(rel) == len(lab) >= 1
    assert rel.min() >= 0 and rel.max() <= 1
