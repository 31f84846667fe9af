"""The numpy COCO metric against pycocotools' COCOeval on randomized inputs.

The inputs are built to reach every rule that decides COCO numbers: crowd boxes (matched many
times, union = detection area), areas given apart from the box (segmentation areas) across the
small/medium/large bins, more than 100 detections of a class in one image, score ties (stable
sorting), duplicates, wrong classes, classes without ground truth, images without ground truth
and images without detections.
"""
import contextlib
import io

import numpy as np
import pytest

from ssd_edge import Detections
from ssd_edge.eval import evaluate
from ssd_edge.eval.coco import STATS_ORDER

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def random_case(seed, n_images=40, num_classes=9):
    rng = np.random.default_rng(seed)
    present = rng.choice(np.arange(1, num_classes), size=num_classes - 3, replace=False)
    gts, dets = [], []
    for i in range(n_images):
        g = int(rng.integers(0, 10)) if rng.random() > 0.15 else 0
        xy = rng.uniform(0, 500, (g, 2))
        wh = np.exp(rng.uniform(np.log(3), np.log(250), (g, 2)))   # small, medium and large
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        labels = rng.choice(present, g)
        crowd = rng.random(g) < 0.12
        area = (boxes[:, 2] - boxes[:, 0]).astype(np.float64) * (boxes[:, 3] - boxes[:, 1])
        area = area * rng.uniform(0.4, 1.1, g)                      # a segmentation is smaller
        gt = {"boxes": boxes, "labels": labels, "iscrowd": crowd}
        if rng.random() < 0.7:
            gt["area"] = area
        gts.append(gt)
        dets.append(random_detections(rng, boxes, labels, num_classes, many=(i == 3)))
    return gts, dets


def random_detections(rng, gt_boxes, gt_labels, num_classes, many=False):
    boxes, labels = [], []
    for b, lab in zip(gt_boxes, gt_labels):
        for _ in range(int(rng.integers(0, 3))):                  # misses and duplicates
            wh = b[2:] - b[:2]
            jitter = rng.normal(0, rng.uniform(0.01, 0.15), 4) * np.concatenate([wh, wh])
            boxes.append(b + jitter)
            labels.append(lab if rng.random() < 0.85 else rng.integers(1, num_classes))
    n_fp = int(rng.integers(0, 8)) + (150 if many else 0)
    for _ in range(n_fp):
        xy = rng.uniform(0, 500, 2)
        boxes.append(np.concatenate([xy, xy + rng.uniform(3, 200, 2)]))
        labels.append(1 if many else rng.integers(1, num_classes))
    if rng.random() < 0.1:
        boxes, labels = [], []
    n = len(boxes)
    scores = np.round(rng.uniform(0.01, 1, n), 2)                   # ties on purpose
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), scores, np.asarray(labels))


def pycocotools_eval(gts, dets, num_classes):
    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2]) - float(b[0]), float(b[3]) - float(b[1])]  # noqa: E731
    anns = []
    for i, g in enumerate(gts):
        for j, b in enumerate(g["boxes"]):
            box = xywh(b)
            area = float(g["area"][j]) if "area" in g else box[2] * box[3]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(g["labels"][j]),
                         "bbox": box, "area": area, "iscrowd": int(g["iscrowd"][j])})
    results = [{"image_id": i + 1, "category_id": int(d.class_ids[j]), "bbox": xywh(d.boxes[j]),
                "score": float(d.scores[j])} for i, d in enumerate(dets) for j in range(len(d))]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i + 1} for i in range(len(gts))], "annotations": anns,
                      "categories": [{"id": k, "name": str(k)} for k in range(1, num_classes)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_coco_metric_equals_pycocotools(seed):
    num_classes = 9
    gts, dets = random_case(seed, num_classes=num_classes)
    ours = evaluate(gts, dets, "coco", num_classes=num_classes)
    ref = pycocotools_eval(gts, dets, num_classes)
    got = np.array([ours[k] for k in STATS_ORDER])
    np.testing.assert_allclose(got, ref.stats, atol=1e-4, rtol=0)
    # the case is not degenerate: a real spread of values, and absent classes reported as -1
    assert 0.05 < ours["map"] < 0.95 and len(set(np.round(got, 3))) > 6
    precision = ref.eval["precision"][:, :, :, 0, 2]
    for k in range(1, num_classes):
        p = precision[:, :, k - 1]
        expect = p[p > -1].mean() if (p > -1).any() else -1.0
        assert ours["per_class"][k] == pytest.approx(expect, abs=1e-4)
    assert ours["absent"] and all(ours["per_class"][k] == -1.0 for k in ours["absent"])


def test_coco_metric_equals_pycocotools_with_many_classes():
    num_classes = 41
    gts, dets = random_case(11, n_images=60, num_classes=num_classes)
    ours = evaluate(gts, dets, "coco", num_classes=num_classes)
    ref = pycocotools_eval(gts, dets, num_classes)
    np.testing.assert_allclose([ours[k] for k in STATS_ORDER], ref.stats, atol=1e-4, rtol=0)


def test_perfect_detections_score_one_and_misses_lower_recall():
    gts, _ = random_case(7)
    perfect = [Detections(g["boxes"], np.ones(len(g["boxes"])), g["labels"]) for g in gts]
    out = evaluate(gts, perfect, "coco", num_classes=9)
    assert out["map"] == pytest.approx(1.0) and out["ap50"] == pytest.approx(1.0)
    half = [d.select(np.arange(len(d)) % 2 == 0) for d in perfect]
    assert evaluate(gts, half, "coco", num_classes=9)["ar100"] < 0.8
