"""The registry's UltraFace entries are the real files (digests, sizes), and a name fetched from
a local server (the real files in the upstream layout) detects as UltraFace's Predictor does."""
import os
import sys

import cv2
import pytest

from realdata import as_rows, mismatch, need_real

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "runtime"))
from localhttp import Server  # noqa: E402

from ssd_edge.runtime import registry  # noqa: E402

pytestmark = pytest.mark.slow
# Upstream paths → files in ../shared/real/models/ultraface.
LOCAL = {"models/pretrained/": "", "masked_face/pretrained/": "masked/"}


def local_file(entry):
    for up, here in LOCAL.items():
        if entry.path.startswith(up):
            return need_real("models", "ultraface", here + entry.path[len(up):])
    raise AssertionError(entry.path)


def test_entries_match_the_published_digests():
    sums = {}
    with open(need_real("models", "ultraface", "SHA256SUMS")) as f:
        for line in f:
            digest, name = line.split()
            sums[name] = digest
    for entry in registry.MODELS.values():
        path = local_file(entry)
        rel = os.path.relpath(path, need_real("models", "ultraface"))
        assert sums[rel] == entry.sha256 and os.path.getsize(path) == entry.size, entry.name
        labels = os.path.join(os.path.dirname(path), "labels.txt")
        assert tuple(open(labels).read().split()) == entry.labels


@pytest.fixture
def served(tmp_path, monkeypatch):
    files = {"/" + e.path: open(local_file(e), "rb").read() for e in registry.MODELS.values()}
    server = Server(files)
    monkeypatch.setenv(registry.URL_ENV, server.url)
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    yield server
    server.close()


@pytest.mark.parametrize("name, checkpoint", [("ultraface-rfb-320", "version-RFB-320.pth"),
                                              ("ultraface-slim-640", "version-slim-640.pth")])
def test_named_model_detects_like_the_predictor(served, reference, name, checkpoint):
    pytest.importorskip("torch")
    from ssd_edge import Detector
    s = reference["settings"]
    with Detector.load(name, backend="torch", conf_threshold=s["conf_threshold"],
                       iou_threshold=s["iou_threshold"], candidate_size=s["candidate_size"],
                       top_k=s["top_k"], max_detections=-1) as det:
        assert det.spec.labels == ("BACKGROUND", "face")
        assert det.spec.frame_size == tuple(reference["checkpoints"][checkpoint]["input_size_wh"])
        for image, want in sorted(reference["checkpoints"][checkpoint]["images"].items())[:6]:
            got = as_rows(det(cv2.imread(need_real("photos", image))))
            assert mismatch(got, want) is None, image


def test_ssd_export_takes_a_name(served, tmp_path):
    pytest.importorskip("torch")
    from ssd_edge.cli.export import main
    assert main(["ultraface-slim-320", "--no-check", "-q"]) == 0
    assert (tmp_path / "version-slim-320.onnx").exists()          # in the working folder
