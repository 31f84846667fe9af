"""Open Images csv and COCO json readers on tiny datasets written here."""
import json
import os

import cv2
import numpy as np
import pytest

from ssd_edge import SsdEdgeError
from ssd_edge.data import CocoDataset, OpenImagesDataset, common, load_dataset

HEADER = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsGroupOf,ClassName\n"


def write_open_images(root, rows, sizes, split="test"):
    os.makedirs(os.path.join(root, split), exist_ok=True)
    for image_id, (w, h) in sizes.items():
        cv2.imwrite(os.path.join(root, split, image_id + ".jpg"), np.zeros((h, w, 3), np.uint8))
    with open(os.path.join(root, "sub-%s-annotations-bbox.csv" % split), "w") as f:
        f.write(HEADER)
        for image_id, cls, (x1, y1, x2, y2), group in rows:
            f.write("%s,xclick,/m/x,1,%s,%s,%s,%s,%d,%s\n" % (image_id, x1, x2, y1, y2, group, cls))
    return str(root)


ROWS = [("img1", "Zebra", (0.1, 0.2, 0.5, 0.6), 0), ("img1", "Apple", (0.0, 0.0, 1.0, 1.0), 1),
        ("img2", "Zebra", (0.25, 0.5, 0.75, 1.0), 0), ("img3", "Apple", (0.1, 0.1, 0.2, 0.2), 0)]
SIZES = {"img1": (200, 100), "img2": (40, 80), "img3": (64, 64)}


def test_open_images_scales_normalised_boxes_without_decoding(tmp_path, monkeypatch):
    root = write_open_images(tmp_path, ROWS, SIZES)
    ds = OpenImagesDataset(root, split="test")
    assert ds.class_names == ("BACKGROUND", "Apple", "Zebra") and len(ds) == 3
    # annotation() reads the size from the JPEG header: decoding is forbidden here
    monkeypatch.setattr(common, "read_image", lambda path: pytest.fail("decoded " + path))
    t = ds.annotation(0)
    np.testing.assert_allclose(t["boxes"], [[20, 20, 100, 60], [0, 0, 200, 100]])
    assert t["labels"].tolist() == [2, 1] and t["iscrowd"].tolist() == [False, True]
    np.testing.assert_allclose(ds.annotation(1)["boxes"], [[10, 40, 30, 80]])
    monkeypatch.undo()
    image, target = ds[1]
    assert image.shape == (80, 40, 3)
    np.testing.assert_allclose(target["boxes"], [[10, 40, 30, 80]])


def test_open_images_subset_missing_image_and_bad_csv(tmp_path):
    root = write_open_images(tmp_path / "a", ROWS, SIZES)
    os.remove(os.path.join(root, "test", "img3.jpg"))
    ds = OpenImagesDataset(root, split="test", classes=["Zebra"])
    assert ds.class_names == ("BACKGROUND", "Zebra") and len(ds) == 2
    assert ds.annotation(0)["labels"].tolist() == [1]
    assert len(ds.skipped) == 1 and "img3.jpg" in ds.skipped[0][0]
    with pytest.raises(SsdEdgeError, match="sub-train-annotations-bbox.csv"):
        OpenImagesDataset(root, split="train")
    with open(os.path.join(root, "sub-test-annotations-bbox.csv"), "w") as f:
        f.write("ImageID,XMin\nimg1,0.1\n")
    with pytest.raises(SsdEdgeError, match="ClassName"):
        OpenImagesDataset(root, split="test")


def write_coco(root, split="val2017"):
    os.makedirs(os.path.join(root, "annotations"))
    os.makedirs(os.path.join(root, split))
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        cv2.imwrite(os.path.join(root, split, name), np.zeros((50, 60, 3), np.uint8))
    data = {"images": [{"id": 5, "file_name": "a.jpg", "width": 60, "height": 50},
                       {"id": 9, "file_name": "b.jpg", "width": 60, "height": 50},
                       {"id": 2, "file_name": "c.jpg", "width": 60, "height": 50}],
            "categories": [{"id": 7, "name": "zebra"}, {"id": 1, "name": "person"},
                           {"id": 3, "name": "car"}],
            "annotations": [
                {"id": 1, "image_id": 5, "category_id": 7, "bbox": [1.5, 2, 10, 20], "area": 150.0,
                 "iscrowd": 0},
                {"id": 2, "image_id": 5, "category_id": 1, "bbox": [0, 0, 30, 30], "area": 700.0,
                 "iscrowd": 1},
                {"id": 3, "image_id": 9, "category_id": 3, "bbox": [5, 5, 5, 5], "area": 25.0,
                 "iscrowd": 0}]}
    path = os.path.join(root, "annotations", "instances_%s.json" % split)
    with open(path, "w") as f:
        json.dump(data, f)
    return str(root), path


def test_coco_remaps_categories_in_id_order_and_carries_crowd_and_area(tmp_path):
    root, json_path = write_coco(tmp_path)
    ds = CocoDataset(root)
    assert ds.class_names == ("BACKGROUND", "person", "car", "zebra")
    assert ds.category_ids == [None, 1, 3, 7]
    assert len(ds) == 3 and ds.image_id(2) == "2"          # the image without objects is kept
    t = ds.annotation(0)
    np.testing.assert_allclose(t["boxes"], [[1.5, 2, 11.5, 22], [0, 0, 30, 30]])
    assert t["labels"].tolist() == [3, 1] and t["iscrowd"].tolist() == [False, True]
    np.testing.assert_allclose(t["area"], [150, 700])
    assert ds[1][0].shape == (50, 60, 3)
    same = CocoDataset(json_path)                         # the json itself, images found beside
    assert len(same) == 3 and same.class_names == ds.class_names


def test_coco_options_and_errors(tmp_path):
    root, json_path = write_coco(tmp_path)
    sub = CocoDataset(root, classes=["zebra", "car"])
    assert sub.class_names == ("BACKGROUND", "zebra", "car") and sub.category_ids == [None, 7, 3]
    assert [sub.annotation(i)["labels"].tolist() for i in range(len(sub))] == [[1], [2]]
    assert len(CocoDataset(root, skip_empty=True)) == 2
    assert CocoDataset(root, include_crowd=False).annotation(0)["labels"].tolist() == [3]
    with pytest.raises(SsdEdgeError, match="instances_train2017.json"):
        CocoDataset(root, split="train2017")
    with open(json_path, "w") as f:
        f.write("{not json")
    with pytest.raises(SsdEdgeError, match="valid JSON"):
        CocoDataset(root)


def test_load_dataset_detects_layouts(tmp_path):
    root, _ = write_coco(tmp_path / "coco")
    assert type(load_dataset(root)).__name__ == "CocoDataset"
    oi = write_open_images(tmp_path / "oi", ROWS, SIZES)
    assert type(load_dataset(oi)).__name__ == "OpenImagesDataset"
    os.makedirs(tmp_path / "empty")
    with pytest.raises(SsdEdgeError, match="VOC"):
        load_dataset(tmp_path / "empty")


def test_image_size_from_headers(tmp_path):
    for ext in (".jpg", ".png", ".bmp"):
        p = str(tmp_path / ("x" + ext))
        cv2.imwrite(p, np.zeros((37, 53, 3), np.uint8))
        assert common.image_size(p) == (53, 37)
