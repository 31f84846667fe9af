"""evaluate_detector over a generated dataset, label mapping by name, JSON and PNG outputs.

The detector here is a test double (an oracle that looks the image up and answers with its ground
truth): the real runtime Detector is tested elsewhere; what is under test is the loop around it.
"""
import hashlib
import json
import os

import numpy as np
import pytest

from ssd_edge import Detections, SsdEdgeError
from ssd_edge.data import VOCDataset, generate_voc
from ssd_edge.eval import (SCHEMA, evaluate_detector, format_table, plot_pr_curves,
                           result_document, write_results)


class Oracle:
    """Answers each image with its ground truth, optionally in another label space."""

    def __init__(self, dataset, labels=None, keep_every=1):
        self.truth = {}
        order = list(labels) if labels else list(dataset.class_names)
        for i in range(len(dataset)):
            t = dataset.annotation(i)
            ids = [order.index(dataset.class_names[k]) for k in t["labels"]]
            self.truth[hashlib.sha1(dataset.image(i).tobytes()).hexdigest()] = Detections(
                t["boxes"], np.linspace(0.9, 0.5, len(ids)), ids).select(
                    np.arange(len(ids)) % keep_every == 0)
        if labels:
            self.labels = tuple(labels)

    def __call__(self, image):
        return self.truth[hashlib.sha1(image.tobytes()).hexdigest()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    generate_voc(root, 10, seed=5, image_size=(128, 96), split="test")
    return VOCDataset(root, split="test")


def test_oracle_scores_one_and_a_weaker_detector_less(dataset):
    out = evaluate_detector(Oracle(dataset), dataset, "voc07", progress=False)
    assert out["map"] == pytest.approx(1.0) and out["num_images"] == 10
    assert out["dataset"]["images"] == 10 and out["images_per_second"] > 0
    weak = evaluate_detector(Oracle(dataset, keep_every=2), dataset, "voc12", progress=False)
    assert 0.2 < weak["map"] < 0.9


def test_model_labels_are_mapped_to_the_dataset_by_name(dataset):
    permuted = ["BACKGROUND", "star", "extra", "triangle", "square", "circle"]
    out = evaluate_detector(Oracle(dataset, permuted), dataset, "coco", progress=False)
    assert out["map"] == pytest.approx(1.0)
    unlabelled = Oracle(dataset, permuted)
    del unlabelled.labels          # the same ids taken at face value are wrong classes
    with pytest.raises(SsdEdgeError, match="labels in 1..4"):
        evaluate_detector(unlabelled, dataset, "voc07", progress=False)
    stranger = Oracle(dataset)
    stranger.labels = ("BACKGROUND", "cat", "dog", "cow", "pig")
    with pytest.raises(SsdEdgeError, match="no.* in common|none in common"):
        evaluate_detector(stranger, dataset, "voc07", progress=False)


def test_write_results_json_and_png(dataset, tmp_path):
    out = evaluate_detector(Oracle(dataset, keep_every=2), dataset, "voc07", progress=False)
    doc = write_results(out, tmp_path / "eval.json", tmp_path / "pr.png", extra={"model": "m.onnx"})
    with open(tmp_path / "eval.json") as f:
        saved = json.load(f)
    assert saved == doc and saved["schema"] == SCHEMA == 1 and saved["model"] == "m.onnx"
    assert saved["map"] == pytest.approx(out["map"]) and saved["iou_threshold"] == 0.5
    assert [c["name"] for c in saved["classes"]] == ["circle", "square", "triangle", "star"]
    assert [c["id"] for c in saved["classes"]] == [1, 2, 3, 4]
    for c in saved["classes"]:
        assert c["ap"] == pytest.approx(out["per_class"][c["name"]]) and c["ap50"] is None
        assert c["num_gt"] == out["num_gt"][c["name"]] and len(c["precision"]) == 101
    assert saved["ap50"] is None and len(saved["recall_points"]) == 101
    assert saved["dataset"]["images"] == 10 and saved["seconds"] > 0
    with open(tmp_path / "pr.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(tmp_path / "pr.png") > 5000
    assert sorted(os.listdir(tmp_path)) == ["eval.json", "pr.png"]     # nothing half-written
    table = format_table(out)
    assert "mAP (voc07)" in table and "circle" in table


def test_coco_document_carries_the_coco_numbers(dataset, tmp_path):
    out = evaluate_detector(Oracle(dataset, keep_every=2), dataset, "coco", progress=False)
    doc = result_document(out)
    assert doc["iou_threshold"] is None and 0 < doc["ap50"] <= 1 and doc["ar100"] < 1
    assert all(c["ap50"] is not None for c in doc["classes"])
    plot_pr_curves(out, tmp_path / "coco.png")
    with open(tmp_path / "coco.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"
