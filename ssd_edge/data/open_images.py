"""Open Images csv layout, as pytorch-ssd's ``open_images_downloader.py`` writes it.

::

    root/sub-<split>-annotations-bbox.csv   (ImageID, XMin, YMin, XMax, YMax, ClassName, ...)
    root/<split>/<ImageID>.jpg              (split: train, validation, test)

Coordinates in the csv are normalised to [0, 1]; they are scaled by the image's width and height
(read from the file header, so ``annotation(i)`` still decodes nothing; ``ds[i]`` uses the
decoded image). Class names are the csv's distinct ``ClassName`` values, sorted, after
BACKGROUND, exactly as pytorch-ssd numbers them; ``labels=`` (a labels.txt) fixes another order.
``IsGroupOf`` = 1, where the column exists, becomes ``iscrowd``.
"""
import csv
import os

import numpy as np

from ..errors import SsdEdgeError
from .common import (BACKGROUND, DetectionDataset, finish, image_size, log, make_record,
                     read_labels_file, require_nonempty)

REQUIRED = ("ImageID", "XMin", "YMin", "XMax", "YMax", "ClassName")


class OpenImagesDataset(DetectionDataset):
    """Read an Open Images csv dataset (see the module doc).

    Args:
        root: the dataset folder.
        split: ``train``, ``validation`` or ``test``.
        classes: optional subset of class names, remapped to ``1..len(classes)`` in that order.
        labels: optional labels file fixing the class order; rows of other classes are dropped.
        skip_empty: drop images without any object of a known class.
    """

    def __init__(self, root, split="train", classes=None, labels=None, skip_empty=True):
        root = os.fspath(root)
        if not os.path.isdir(root):
            raise SsdEdgeError("expected an Open Images dataset folder at %s, got no such folder"
                               % root)
        csv_path = os.path.join(root, "sub-%s-annotations-bbox.csv" % split)
        img_dir = os.path.join(root, split)
        if not os.path.isfile(csv_path):
            raise SsdEdgeError("expected the annotation file %s, got none; download the split "
                               "with open_images_downloader.py or pick another --split" % csv_path)
        if not os.path.isdir(img_dir):
            raise SsdEdgeError("expected the image folder %s, got none" % img_dir)
        rows = _read_rows(csv_path)
        names = (read_labels_file(labels) if labels else
                 (BACKGROUND,) + tuple(sorted({r["ClassName"] for r in rows})))
        records, skipped, unknown = _group(rows, names, img_dir)
        records, names = finish(records, names, classes, skip_empty)
        super().__init__(root, names, records, skipped, unknown)
        self._sizes = {}
        self.log_summary()
        require_nonempty(records, csv_path, "check the csv rows and the images in %s" % img_dir)

    def _pixel_boxes(self, i, record, size=None):
        if size is None:
            size = self._sizes.get(i)
            if size is None:
                size = self._sizes[i] = image_size(record.path)
        w, h = size
        return record.boxes * np.array([w, h, w, h], np.float32)


def _read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise SsdEdgeError("expected the columns %s in %s, got %s" % (
                ", ".join(REQUIRED), path, ", ".join(reader.fieldnames or ()) or "an empty file"))
        rows = []
        for n, row in enumerate(reader, 2):
            try:
                for c in ("XMin", "YMin", "XMax", "YMax"):
                    row[c] = float(row[c])
            except (TypeError, ValueError):
                log.warning("skipping row %d of %s: non-numeric coordinate", n, path)
                continue
            rows.append(row)
    return rows


def _group(rows, names, img_dir):
    index = {n: i for i, n in enumerate(names)}
    by_image, unknown = {}, {}
    for row in rows:
        cls = index.get(row["ClassName"])
        if cls is None or cls == 0:
            unknown[row["ClassName"]] = unknown.get(row["ClassName"], 0) + 1
            cls = None
        objs = by_image.setdefault(row["ImageID"], [])
        if cls is not None:
            objs.append(([row["XMin"], row["YMin"], row["XMax"], row["YMax"]], cls,
                         str(row.get("IsGroupOf", "0")).strip() == "1"))
    records, skipped = [], []
    for image_id in sorted(by_image):
        path = os.path.join(img_dir, image_id + ".jpg")
        if not os.path.isfile(path):
            skipped.append((path, "image missing"))
            continue
        objs = by_image[image_id]
        records.append(make_record(image_id, path, [o[0] for o in objs], [o[1] for o in objs],
                                   iscrowd=[o[2] for o in objs]))
    return records, skipped, unknown
