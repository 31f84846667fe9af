"""VOC07 / VOC12 AP as pytorch-ssd's eval_ssd.py computes it.

Hand-computed cases pin the rules (IoU strictly above 0.5 without "+1 pixel", difficult ignored,
duplicates false positive, 11-point vs area); a randomized comparison against a literal,
per-detection re-statement of eval_ssd.py's loop (written for this test, below) checks the
vectorized implementation and its dropping of ignored detections.
"""
import numpy as np
import pytest

from ssd_edge import Detections, SsdEdgeError
from ssd_edge.eval import evaluate

NAMES = ["BACKGROUND", "a", "b", "c"]


def hand_case():
    gts = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [1, 1]},
           {"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "labels": [1, 2], "difficult": [True, False]}]
    dets = [Detections([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]],
                       [0.9, 0.8, 0.6, 0.5], [1, 1, 1, 1]),
            {"boxes": [[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 6], [1, 1, 5, 5]],
             "scores": [0.7, 0.4, 0.3, 0.2], "labels": [1, 2, 2, 3]}]
    return gts, dets


def test_hand_computed_voc07():
    # class a, after sorting: TP, FP (duplicate), [ignored: difficult], FP, TP with 2 positives
    # precision 1, 1/2, 1/3, 1/2 at recall 1/2, 1/2, 1/2, 1: 6 points at 1 + 5 at 1/2 → 8.5/11.
    # class b: IoU exactly 0.5 is no match (FP), IoU 0.6 is (and would be 0.545 with "+1 pixel"
    # widths, still a match, but the 0.5 box would then be one too): precision 1/2 → AP 0.5.
    gts, dets = hand_case()
    out = evaluate(gts, dets, "voc07", class_names=NAMES)
    assert out["per_class"]["a"] == pytest.approx(8.5 / 11)
    assert out["per_class"]["b"] == pytest.approx(0.5)
    assert out["per_class"]["c"] == -1.0 and out["absent"] == ["c"]
    assert out["map"] == pytest.approx((8.5 / 11 + 0.5) / 2)
    assert out["num_gt"] == {"a": 2, "b": 1, "c": 0}
    assert out["num_detections"] == {"a": 5, "b": 2, "c": 1}


def test_hand_computed_voc12():
    # class a: envelope 1 up to recall 1/2, then 1/2 up to recall 1 → 0.5 + 0.25.
    gts, dets = hand_case()
    out = evaluate(gts, dets, "voc12", class_names=NAMES)
    assert out["per_class"]["a"] == pytest.approx(0.75)
    assert out["per_class"]["b"] == pytest.approx(0.5)
    assert out["map"] == pytest.approx(0.625)


def test_pr_curve_sampled_at_101_recall_points():
    gts, dets = hand_case()
    curves = evaluate(gts, dets, "voc12", class_names=NAMES)["pr_curves"]
    assert len(curves["recall"]) == 101 and set(curves["precision"]) == {"a", "b"}
    a = np.array(curves["precision"]["a"])
    assert np.all(a[:51] == 1.0) and np.all(a[51:] == 0.5)


def test_perfect_and_empty_detections():
    gts, _ = hand_case()
    perfect = [Detections(g["boxes"], np.ones(len(g["labels"])), g["labels"]) for g in gts]
    assert evaluate(gts, perfect, "voc07", num_classes=3)["map"] == pytest.approx(1.0)
    nothing = [Detections.empty() for _ in gts]
    out = evaluate(gts, nothing, "voc12", num_classes=3)
    assert out["map"] == 0.0 and out["per_class"] == {1: 0.0, 2: 0.0}


def test_bad_inputs_are_user_errors():
    gts, dets = hand_case()
    with pytest.raises(SsdEdgeError, match="one detection entry per image"):
        evaluate(gts, dets[:1])
    with pytest.raises(SsdEdgeError, match="labels in 1..2"):
        evaluate(gts, dets, num_classes=3)
    with pytest.raises(SsdEdgeError, match="metric"):
        evaluate(gts, dets, "map50")
    with pytest.raises(SsdEdgeError, match="class names"):
        evaluate(gts, dets, num_classes=4, class_names=["BACKGROUND", "a"])


# --- a literal re-statement of eval_ssd.py, one detection at a time -------------------------

def reference_ap(gts, dets, cls, use_07):
    npos = sum(int(((g["labels"] == cls) & ~g["difficult"]).sum()) for g in gts)
    entries = [(i, float(s), b) for i, d in enumerate(dets)
               for b, s, lab in zip(d["boxes"], d["scores"], d["labels"]) if lab == cls]
    order = np.argsort(-np.array([e[1] for e in entries]), kind="mergesort")
    tp, fp, matched = np.zeros(len(entries)), np.zeros(len(entries)), set()
    for n, k in enumerate(order):
        i, _, box = entries[k]
        box = (box + np.float32(1)) - np.float32(1)
        g = gts[i]
        mask = g["labels"] == cls
        if not mask.any():
            fp[n] = 1
            continue
        ious = [pair_iou(box, gb) for gb in g["boxes"][mask]]
        j = int(np.argmax(ious))
        if ious[j] > 0.5:
            if not g["difficult"][mask][j]:
                if (i, j) not in matched:
                    tp[n] = 1
                    matched.add((i, j))
                else:
                    fp[n] = 1
        else:
            fp[n] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    with np.errstate(invalid="ignore"):
        precision, recall = tp / (tp + fp), tp / npos
    if use_07:
        return sum((np.max(precision[recall >= t]) if (recall >= t).any() else 0) / 11.0
                   for t in np.arange(0.0, 1.1, 0.1))
    p = np.concatenate([[0.0], precision, [0.0]])
    for k in range(len(p) - 1, 0, -1):
        p[k - 1] = max(p[k - 1], p[k])
    r = np.concatenate([[0.0], recall, [1.0]])
    idx = np.where(r[1:] != r[:-1])[0]
    return float(((r[idx + 1] - r[idx]) * p[idx + 1]).sum())


def pair_iou(a, b):
    f = np.float32
    w = max(min(a[2], b[2]) - max(a[0], b[0]), f(0))
    h = max(min(a[3], b[3]) - max(a[1], b[1]), f(0))
    inter = f(w) * f(h)
    area_a = max(a[2] - a[0], f(0)) * max(a[3] - a[1], f(0))
    area_b = max(b[2] - b[0], f(0)) * max(b[3] - b[1], f(0))
    return inter / (area_a + area_b - inter + f(1e-5))


def random_voc_case(seed, n_images=25, num_classes=5):
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 6))
        xy = rng.uniform(0, 300, (g, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 120, (g, 2))], 1).astype(np.float32)
        labels = rng.integers(1, num_classes, g)
        gts.append({"boxes": boxes, "labels": labels, "difficult": rng.random(g) < 0.2})
        db, dl = [], []
        for b, lab in zip(boxes, labels):
            for _ in range(int(rng.integers(0, 3))):
                db.append(b + rng.normal(0, 8, 4))
                dl.append(lab)
        for _ in range(int(rng.integers(0, 4))):
            xy = rng.uniform(0, 300, 2)
            db.append(np.concatenate([xy, xy + rng.uniform(10, 120, 2)]))
            dl.append(rng.integers(1, num_classes))
        scores = np.round(rng.uniform(0, 1, len(db)), 2).astype(np.float32)
        dets.append({"boxes": np.asarray(db, np.float32).reshape(-1, 4), "scores": scores,
                     "labels": np.asarray(dl, np.int64)})
    return gts, dets


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("metric", ["voc07", "voc12"])
def test_matches_eval_ssd_restated(seed, metric):
    gts, dets = random_voc_case(seed)
    out = evaluate(gts, dets, metric, num_classes=5)
    compared = 0
    for cls in range(1, 5):
        npos = sum(int(((g["labels"] == cls) & ~g["difficult"]).sum()) for g in gts)
        if npos == 0:
            assert out["per_class"][cls] == -1.0
            continue
        expect = reference_ap(gts, dets, cls, metric == "voc07")
        if np.isnan(expect):   # eval_ssd.py's 0/0 when the top detection hits a difficult box
            continue
        assert out["per_class"][cls] == pytest.approx(expect, abs=1e-12)
        compared += 1
    assert compared >= 2
