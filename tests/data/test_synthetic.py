"""The synthetic dataset and video generators: determinism, layout, occlusion bookkeeping."""
import json
import os

import cv2
import numpy as np
import pytest

from ssd_edge.data import VOCDataset, generate_video, generate_voc, load_video_ground_truth
from ssd_edge.data import synthetic, video
from ssd_edge.data.shapes import SHAPES, ShapeSpec, render


def tree_bytes(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = generate_voc(tmp_path / "a", 12, seed=3)
    generate_voc(tmp_path / "b", 12, seed=3)
    generate_voc(tmp_path / "c", 12, seed=4)
    ta, tb, tc = (tree_bytes(tmp_path / x) for x in "abc")
    assert ta == tb and len(ta) == 12 * 2 + 2
    jpgs = [k for k in ta if k.endswith(".jpg")]
    assert all(ta[k] != tc[k] for k in jpgs)
    assert a["images"] == 12 and sum(a["objects"].values()) >= 12


def test_image_i_depends_only_on_seed_and_index(tmp_path):
    generate_voc(tmp_path / "few", 3, seed=1)
    generate_voc(tmp_path / "more", 6, seed=1)
    few, more = tree_bytes(tmp_path / "few"), tree_bytes(tmp_path / "more")
    assert all(more[k] == v for k, v in few.items() if not k.startswith("ImageSets"))


def test_reads_back_as_voc_with_the_four_classes(tmp_path):
    info = generate_voc(tmp_path, 40, seed=0, image_size=(160, 120), split="test")
    ds = VOCDataset(tmp_path, split="test")
    assert ds.class_names == ("BACKGROUND",) + SHAPES
    assert len(ds) == 40 and not ds.skipped
    counts = np.zeros(5, int)
    for i in range(len(ds)):
        image, t = ds[i]
        assert image.shape == (120, 160, 3)
        b = t["boxes"]
        assert np.all(b[:, :2] >= 0) and np.all(b[:, 2] <= 159) and np.all(b[:, 3] <= 119)
        assert np.all(b[:, 2:] > b[:, :2])
        np.add.at(counts, t["labels"], 1)
    assert counts[0] == 0 and np.all(counts[1:] > 5)
    assert counts[1:].tolist() == [info["objects"][s] for s in SHAPES]
    assert ds.object_counts() == counts.tolist()


def test_occluded_objects_are_boxed_by_their_visible_part():
    bg = np.full((100, 100, 3), 128, np.float32)
    under = ShapeSpec(1, 30.0, 50.0, 20.0, 0.0, (0.0, 0.0, 255.0))       # square, left
    over = ShapeSpec(0, 50.0, 50.0, 25.0, 0.0, (255.0, 0.0, 0.0))       # circle covering its right
    hidden = ShapeSpec(2, 50.0, 50.0, 5.0, 0.0, (0.0, 255.0, 0.0))      # triangle under the circle
    _, objects = render(bg, [hidden, under, over])
    assert [SHAPES[o["kind"]] for o in objects] == ["square", "circle"]  # hidden: not annotated
    square, circle = objects
    assert square["occluded"] and square["box"][2] < 32       # unoccluded it would reach x = 44
    assert square["difficult"] == (square["visible"] < 0.4)
    assert not circle["occluded"] and not circle["difficult"]
    _, objects = render(bg, [under, ShapeSpec(1, 30.0, 50.0, 19.0, 0.0, (9.0, 9.0, 9.0))])
    assert objects[0]["difficult"] and objects[0]["visible"] < 0.2     # a thin ring is left


def test_command_line(tmp_path, capsys):
    assert synthetic.main(["--out", str(tmp_path), "--images", "3", "--size", "96x64"]) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "JPEGImages")) == 3
    assert synthetic.main(["--out", str(tmp_path), "--size", "big"]) == 2
    assert "320x240" in capsys.readouterr().err


def test_video_and_ground_truth(tmp_path):
    path, gt = generate_video(tmp_path / "clip.mp4", n_frames=12, seed=2, size=(160, 120), fps=10)
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 12 and frames[0].shape == (120, 160, 3)
    labels, targets = load_video_ground_truth(gt)
    assert labels == ("BACKGROUND",) + SHAPES and len(targets) == 12
    assert all(len(t["boxes"]) >= 1 for t in targets)
    first = {int(k) for k in targets[0]["labels"]}
    assert first <= {1, 2, 3, 4}
    moved = [np.abs(targets[0]["boxes"][:1] - targets[-1]["boxes"][:1]).sum() for _ in (0,)]
    assert moved[0] > 0
    again, gt2 = generate_video(tmp_path / "again.mp4", n_frames=12, seed=2, size=(160, 120), fps=10)
    with open(gt) as f, open(gt2) as g:
        a, b = json.load(f), json.load(g)
    assert a["frames"] == b["frames"] and a["schema"] == 1
    with open(path, "rb") as f, open(again, "rb") as g:
        assert f.read() == g.read()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]   # no temporary left


def test_video_command_line(tmp_path, capsys):
    out = str(tmp_path / "v.mp4")
    assert video.main(["--out", out, "--frames", "3", "--size", "64x48"]) == 0
    assert os.path.isfile(out) and os.path.isfile(str(tmp_path / "v.json"))
    assert video.main(["--out", str(tmp_path / "nope" / "v.mp4"), "--frames", "2"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_a_few_hundred_images_in_seconds(tmp_path):
    import time
    t0 = time.perf_counter()
    generate_voc(tmp_path, 300, seed=0)
    assert time.perf_counter() - t0 < 20
