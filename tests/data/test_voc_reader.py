"""The VOC reader on tiny datasets written here: layout, conventions and every kind of bad input."""
import logging
import os

import cv2
import numpy as np
import pytest

from ssd_edge import SsdEdgeError
from ssd_edge.data import VOC_CLASSES, VOCDataset, load_dataset


def xml(objects, filename="x.jpg"):
    objs = "".join(
        "<object><name>%s</name>%s<bndbox><xmin>%s</xmin><ymin>%s</ymin><xmax>%s</xmax>"
        "<ymax>%s</ymax></bndbox></object>"
        % (name, "" if diff is None else "<difficult>%d</difficult>" % diff, *box)
        for name, box, diff in objects)
    return ("<annotation><filename>%s</filename><size><width>64</width><height>48</height>"
            "<depth>3</depth></size>%s</annotation>" % (filename, objs))


def write_voc(root, items, split="trainval", labels=None, ext=".jpg"):
    """items: {image_id: [(name, (xmin, ymin, xmax, ymax), difficult or None)] or raw xml str}."""
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for k, (image_id, objects) in enumerate(items.items()):
        text = objects if isinstance(objects, str) else xml(objects)
        with open(os.path.join(root, "Annotations", image_id + ".xml"), "w") as f:
            f.write(text)
        image = np.full((48, 64, 3), 40 * k % 255, np.uint8)
        cv2.imwrite(os.path.join(root, "JPEGImages", image_id + ext), image)
    if split:
        with open(os.path.join(root, "ImageSets", "Main", split + ".txt"), "w") as f:
            f.write("\n".join(items) + "\n\n")
    if labels is not None:
        with open(os.path.join(root, "labels.txt"), "w") as f:
            f.write(labels)
    return str(root)


def test_reads_boxes_one_based_like_pytorch_ssd(tmp_path):
    root = write_voc(tmp_path, {"a": [("dog", (11, 21, 31, 41), 0), ("person", (1, 1, 5, 9), None)]})
    ds = VOCDataset(root)
    assert ds.class_names == VOC_CLASSES and len(ds) == 1 and ds.image_id(0) == "a"
    image, target = ds[0]
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    # pytorch-ssd subtracts 1 from all four coordinates
    np.testing.assert_array_equal(target["boxes"], [[10, 20, 30, 40], [0, 0, 4, 8]])
    assert target["boxes"].dtype == np.float32 and target["labels"].dtype == np.int64
    assert target["labels"].tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")]
    assert target["difficult"].tolist() == [False, False]
    np.testing.assert_array_equal(VOCDataset(root, one_based=False).annotation(0)["boxes"][0],
                                  [11, 21, 31, 41])


def test_cvat_default_txt_png_images_and_labels_override(tmp_path):
    root = write_voc(tmp_path, {"f1": [("Cat", (1, 1, 10, 10), 0)], "f2": [("dog", (2, 2, 9, 9), 0)]},
                     split="default", labels="dog\ncat\n\n", ext=".png")
    ds = VOCDataset(root, split="test")          # no test.txt: CVAT's default.txt is used
    assert ds.split_file.endswith("default.txt")
    assert ds.class_names == ("BACKGROUND", "dog", "cat")
    assert [ds.annotation(i)["labels"].tolist() for i in range(2)] == [[2], [1]]  # "Cat" ≈ "cat"
    assert ds.image_path(0).endswith("f1.png")


def test_labels_file_variants(tmp_path):
    items = {"a": [("b", (1, 1, 5, 5), 0)]}
    assert VOCDataset(write_voc(tmp_path / "x", items, labels="BACKGROUND\na\nb\n")).class_names \
        == ("BACKGROUND", "a", "b")
    assert VOCDataset(write_voc(tmp_path / "y", items, labels="a, b\n")).class_names \
        == ("BACKGROUND", "a", "b")        # the original pytorch-ssd's comma-separated form


def test_difficult_kept_and_flagged_or_dropped(tmp_path):
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 1), ("cat", (5, 5, 20, 20), 0)],
                                "b": [("dog", (1, 1, 10, 10), 1)]})
    ds = VOCDataset(root)
    assert ds.annotation(0)["difficult"].tolist() == [True, False] and len(ds) == 2
    lean = VOCDataset(root, keep_difficult=False)
    assert len(lean) == 1 and lean.annotation(0)["difficult"].tolist() == [False]


def test_unknown_classes_dropped_and_counted(tmp_path, caplog):
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 0), ("unicorn", (1, 1, 3, 3), 0)],
                                "b": [("unicorn", (1, 1, 9, 9), 0)]})
    with caplog.at_level(logging.WARNING, logger="ssd_edge.data"):
        ds = VOCDataset(root)
    assert len(ds) == 1 and ds.unknown_classes == {"unicorn": 2}
    assert "unicorn (2)" in caplog.text


def test_no_known_class_at_all_is_an_error(tmp_path):
    root = write_voc(tmp_path, {"a": [("x", (1, 1, 10, 10), 0)]}, labels="cat\n")
    with pytest.raises(SsdEdgeError, match="labels"):
        VOCDataset(root)


def test_malformed_xml_skipped_with_warning_and_counted(tmp_path, caplog):
    root = write_voc(tmp_path, {"good": [("cat", (1, 1, 10, 10), 0)],
                                "broken": "<annotation><object><name>cat</name>",
                                "nonum": xml([("cat", ("x", 1, 10, 10), 0)])})
    with caplog.at_level(logging.WARNING, logger="ssd_edge.data"):
        ds = VOCDataset(root)
    assert len(ds) == 1 and ds.image_id(0) == "good"
    assert len(ds.skipped) == 2
    assert "broken.xml" in caplog.text and "nonum.xml" in caplog.text
    assert "skipped 2" in caplog.text


def test_missing_parts_are_named(tmp_path):
    with pytest.raises(SsdEdgeError, match="no such folder"):
        VOCDataset(tmp_path / "nope")
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 0)]})
    with pytest.raises(SsdEdgeError, match=r"ImageSets.Main.test\.txt"):
        VOCDataset(root, split="test")
    os.rename(os.path.join(root, "JPEGImages"), os.path.join(root, "images"))
    with pytest.raises(SsdEdgeError, match="JPEGImages"):
        VOCDataset(root)


def test_missing_image_skipped_and_empty_split_is_an_error(tmp_path):
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 0)], "b": [("cat", (1, 1, 10, 10), 0)]})
    os.remove(os.path.join(root, "JPEGImages", "b.jpg"))
    ds = VOCDataset(root)
    assert len(ds) == 1 and ds.skipped[0][1] == "image missing"
    os.remove(os.path.join(root, "JPEGImages", "a.jpg"))
    with pytest.raises(SsdEdgeError, match="at least one annotated image"):
        VOCDataset(root)


def test_undecodable_image_names_the_file(tmp_path):
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 0)]})
    with open(os.path.join(root, "JPEGImages", "a.jpg"), "wb") as f:
        f.write(b"\xff\xd8 this is not a jpeg")
    ds = VOCDataset(root)
    assert ds.annotation(0)["labels"].tolist() == [VOC_CLASSES.index("cat")]  # no decoding
    with pytest.raises(SsdEdgeError, match=r"a\.jpg"):
        ds[0]


def test_classes_subset_remaps_in_given_order_and_skips_images(tmp_path):
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 0), ("dog", (2, 2, 8, 8), 0)],
                                "b": [("person", (1, 1, 10, 10), 0)],
                                "c": [("dog", (3, 3, 9, 9), 0)]})
    ds = VOCDataset(root, classes=["dog", "cat"])
    assert ds.class_names == ("BACKGROUND", "dog", "cat")
    assert [ds.image_id(i) for i in range(len(ds))] == ["a", "c"]
    assert ds.annotation(0)["labels"].tolist() == [2, 1]
    assert VOCDataset(root, classes="cat").class_names == ("BACKGROUND", "cat")
    with pytest.raises(SsdEdgeError, match="unicorn"):
        VOCDataset(root, classes=["cat", "unicorn"])


def test_load_dataset_detects_voc(tmp_path):
    root = write_voc(tmp_path, {"a": [("cat", (1, 1, 10, 10), 0)]}, split="test")
    ds = load_dataset(root)
    assert type(ds).__name__ == "VOCDataset" and len(ds) == 1
    with pytest.raises(IndexError):
        ds[1]
