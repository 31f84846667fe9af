import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ssd_edge import Detections, postprocess

from .nms_reference import hard_nms, iou_of, predictor


def make_outputs(seed, p=300, c=5, clustered=True, temp=2.0):
    """Softmax scores and corner boxes; 'clustered' puts many boxes around a few objects."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(p, c)) * temp
    scores = np.exp(logits)
    scores = (scores / scores.sum(1, keepdims=True)).astype(np.float32)
    if clustered:
        centres = rng.uniform(0.2, 0.8, (4, 2))
        cxcy = centres[rng.integers(0, 4, p)] + rng.normal(0, 0.03, (p, 2))
        wh = rng.uniform(0.1, 0.3, (p, 2))
    else:
        cxcy = rng.uniform(0, 1, (p, 2))
        wh = rng.uniform(0.02, 0.5, (p, 2))
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1).astype(np.float32)
    return scores, boxes


def as_triples(dets, boxes):
    idx = [int(np.flatnonzero((boxes == b).all(1))[0]) for b in dets.boxes]
    return list(zip(dets.class_ids.tolist(), idx))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), conf=st.sampled_from([0.01, 0.1, 0.3]),
       iou=st.sampled_from([0.3, 0.45, 0.6]), cand=st.sampled_from([5, 50, 200]),
       top_k=st.sampled_from([-1, 1, 3]), clustered=st.booleans(),
       classes=st.sampled_from([2, 5]))
def test_matches_predictor_loop(seed, conf, iou, cand, top_k, clustered, classes):
    # classes=2 is a one-class model (faces): its own candidate path; cand=200 with five
    # classes takes the blocked IoU matrix, the others one block.
    scores, boxes = make_outputs(seed, c=classes, clustered=clustered)
    dets = postprocess(scores, boxes, conf_threshold=conf, iou_threshold=iou, candidate_size=cand,
                       top_k=top_k, max_detections=-1)
    ref = predictor(scores, boxes, conf, iou, cand, top_k)
    assert as_triples(dets, boxes) == [(c, i) for c, i, _ in ref]
    np.testing.assert_array_equal(dets.scores, np.array([s for _, _, s in ref], np.float32))


def test_scales_to_frame_and_names_labels():
    scores, boxes = make_outputs(3)
    labels = ["BACKGROUND", "a", "b", "c", "d"]
    d = postprocess(scores, boxes, frame_size=(640, 480), conf_threshold=0.3, labels=labels)
    n = postprocess(scores, boxes, conf_threshold=0.3)
    assert len(d) == len(n) > 0
    np.testing.assert_allclose(d.boxes, n.boxes * [640, 480, 640, 480], rtol=1e-6)
    assert d.labels == [labels[c] for c in d.class_ids]
    assert d.boxes.dtype == np.float32 and d.boxes.shape == (len(d), 4)


def test_max_detections_keeps_highest_scores_in_class_order():
    scores, boxes = make_outputs(4, p=400)
    full = postprocess(scores, boxes, conf_threshold=0.05, max_detections=-1)
    capped = postprocess(scores, boxes, conf_threshold=0.05, max_detections=7)
    assert len(full) > 7 and len(capped) == 7
    np.testing.assert_allclose(np.sort(capped.scores), np.sort(full.scores)[-7:])
    assert list(capped.class_ids) == sorted(capped.class_ids)


def test_nothing_above_threshold_gives_empty_detections():
    scores = np.full((10, 3), 1 / 3, np.float32)
    boxes = np.tile(np.array([0.1, 0.1, 0.2, 0.2], np.float32), (10, 1))
    d = postprocess(scores, boxes, conf_threshold=0.5)
    assert isinstance(d, Detections) and len(d) == 0 and d.boxes.shape == (0, 4)


def test_threshold_is_strict_and_identical_boxes_suppress():
    scores = np.array([[0.5, 0.5, 0], [0.3, 0.7, 0], [0.6, 0.4, 0]], np.float32)
    boxes = np.tile(np.array([0.1, 0.1, 0.5, 0.5], np.float32), (3, 1))
    d = postprocess(scores, boxes, conf_threshold=0.5, iou_threshold=0.45)
    assert d.class_ids.tolist() == [1] and d.scores.tolist() == [pytest.approx(0.7)]


def soft_reference(scores, boxes, conf, sigma, top_k):
    out = []
    for c in range(1, scores.shape[1]):
        idx = np.flatnonzero(scores[:, c] > conf)
        bs = np.concatenate([boxes[idx], scores[idx, c][:, None]], 1)
        ids = idx.copy()
        picked = []
        while len(bs):
            m = int(np.argmax(bs[:, 4]))
            picked.append((c, int(ids[m]), float(bs[m, 4])))
            if len(picked) == top_k > 0 or len(bs) == 1:
                break
            cur = bs[m, :4].copy()
            bs[m], ids[m] = bs[-1], ids[-1]
            bs, ids = bs[:-1], ids[:-1]
            ov = iou_of(cur[None], bs[:, :4])
            bs[:, 4] = bs[:, 4] * np.exp(-(ov * ov) / sigma)
            keep = bs[:, 4] > conf
            bs, ids = bs[keep], ids[keep]
        out += picked
    return out


@pytest.mark.parametrize("seed", range(5))
def test_soft_nms_matches_reference(seed):
    scores, boxes = make_outputs(seed, p=120)
    d = postprocess(scores, boxes, conf_threshold=0.2, method="soft", sigma=0.5, max_detections=-1)
    ref = soft_reference(scores, boxes, 0.2, 0.5, -1)
    assert as_triples(d, boxes) == [(c, i) for c, i, _ in ref]
    np.testing.assert_allclose(d.scores, [s for _, _, s in ref], rtol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_class_agnostic_is_one_greedy_nms_over_all_classes(seed):
    scores, boxes = make_outputs(seed, p=200)
    d = postprocess(scores, boxes, conf_threshold=0.2, iou_threshold=0.45, class_agnostic=True,
                    candidate_size=100, max_detections=-1)
    fg = scores[:, 1:]
    prior, cls = np.nonzero(fg > 0.2)
    s = fg[prior, cls]
    order = np.lexsort((cls, prior, -s))[:100]
    picked = hard_nms(boxes[prior[order]], s[order], 0.45, -1, 10 ** 9)
    ref = sorted(((int(cls[order][p]) + 1, int(prior[order][p]), float(s[order][p])) for p in picked),
                 key=lambda t: (t[0], -t[2]))
    assert as_triples(d, boxes) == [(c, i) for c, i, _ in ref]


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="expected scores"):
        postprocess(np.zeros((5, 3)), np.zeros((4, 4)))


def test_network_shaped_outputs_one_image_or_a_batch():
    """``(1, P, C)`` gives one Detections, ``(B, P, C)`` a list, each equal to the 2-D call."""
    from ssd_edge import postprocess as pp
    rng = np.random.default_rng(5)
    b, p, c = 3, 60, 4
    scores = rng.dirichlet(np.ones(c), (b, p)).astype(np.float32)
    xy = rng.uniform(0, 0.6, (b, p, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.4, (b, p, 2)).astype(np.float32)], -1)
    kw = dict(conf_threshold=0.3, frame_size=(640, 480))
    one = pp(scores[:1], boxes[:1], **kw)
    ref = pp(scores[0], boxes[0], **kw)
    assert not isinstance(one, list) and len(ref) > 0
    np.testing.assert_array_equal(one.boxes, ref.boxes)
    many = pp(scores, boxes, **kw)
    assert isinstance(many, list) and len(many) == b
    for i, d in enumerate(many):
        want = pp(scores[i], boxes[i], **kw)
        np.testing.assert_array_equal(d.boxes, want.boxes)
        np.testing.assert_array_equal(d.class_ids, want.class_ids)
    sized = pp(scores, boxes, conf_threshold=0.3, frame_size=[(10, 10), (20, 20), (640, 480)])
    np.testing.assert_allclose(sized[2].boxes, many[2].boxes)
    with pytest.raises(ValueError, match="boxes"):
        pp(scores, boxes[:2])
    with pytest.raises(ValueError, match="frame_size"):
        pp(scores, boxes, frame_size=[(1, 1), (2, 2)])
