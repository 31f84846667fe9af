"""COCO json (``instances_<split>.json``), the layout the COCO site and most exporters write.

::

    root/annotations/instances_<split>.json
    root/<split>/<file_name>            (or root/images/<split>/, or pass image_dir=)

Category ids (1..90 with gaps in COCO 2017) are remapped to contiguous ids ``1..C`` in sorted
category-id order; ``category_ids`` keeps the original id of each class (index 0 = None for
BACKGROUND). Boxes ``[x, y, w, h]`` become ``(x, y, x + w, y + h)`` pixels; ``iscrowd`` and
``area`` (the segmentation area COCO's metric bins by) are carried. Images without annotations are
kept by default (``skip_empty=False``): they hold false positives in COCO's own evaluation.
"""
import json
import os

import numpy as np

from ..errors import SsdEdgeError
from .common import BACKGROUND, DetectionDataset, finish, make_record, require_nonempty


class CocoDataset(DetectionDataset):
    """Read a COCO instances json (see the module doc).

    Args:
        root: the dataset folder, or the json file itself.
        split: e.g. ``val2017``; names the json and the image folder when ``root`` is a folder.
        image_dir: the image folder, when it is not one of the usual places.
        classes: optional subset of category names, remapped to ``1..len(classes)`` in that order.
        skip_empty: drop images without annotations (always done with ``classes``).
        include_crowd: False drops ``iscrowd`` annotations (training usually does).
    """

    def __init__(self, root, split="val2017", image_dir=None, classes=None, skip_empty=False,
                 include_crowd=True):
        root = os.fspath(root)
        json_path, image_dir = _locate(root, split, image_dir)
        data = _load_json(json_path)
        cats = sorted(data["categories"], key=lambda c: c["id"])
        names = (BACKGROUND,) + tuple(str(c["name"]) for c in cats)
        if len(set(names)) != len(names):
            raise SsdEdgeError("expected distinct category names in %s, got duplicates" % json_path)
        cat_index = {c["id"]: i for i, c in enumerate(cats, 1)}
        records, skipped = _records(data, cat_index, image_dir, include_crowd)
        name_to_id = {str(c["name"]): c["id"] for c in cats}
        records, names = finish(records, names, classes, skip_empty)
        super().__init__(root, names, records, skipped)
        self.json_path, self.image_dir = json_path, image_dir
        self.category_ids = [None] + [name_to_id[n] for n in names[1:]]
        self.log_summary()
        require_nonempty(records, json_path, "check its images and the folder %s" % image_dir)


def _locate(root, split, image_dir):
    if os.path.isfile(root):
        json_path = root
        guesses = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(root))), split),
                   os.path.join(os.path.dirname(os.path.abspath(root)), "images")]
    elif os.path.isdir(root):
        json_path = os.path.join(root, "annotations", "instances_%s.json" % split)
        if not os.path.isfile(json_path):
            raise SsdEdgeError("expected the annotation file %s, got none; pass the json file "
                               "itself or the right --split" % json_path)
        guesses = [os.path.join(root, split), os.path.join(root, "images", split),
                   os.path.join(root, "images")]
    else:
        raise SsdEdgeError("expected a COCO dataset folder or instances json at %s, got nothing"
                           % root)
    if image_dir is None:
        image_dir = next((g for g in guesses if os.path.isdir(g)), None)
        if image_dir is None:
            raise SsdEdgeError("expected the images of %s in one of %s, got none; pass image_dir"
                               % (json_path, ", ".join(guesses)))
    elif not os.path.isdir(image_dir):
        raise SsdEdgeError("expected the image folder %s, got none" % image_dir)
    return json_path, os.fspath(image_dir)


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except ValueError as e:
        raise SsdEdgeError("expected valid JSON in %s, got: %s" % (path, e))
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise SsdEdgeError("expected the keys images, annotations, categories in %s, got no %s"
                           % (path, ", ".join(missing)))
    return data


def _records(data, cat_index, image_dir, include_crowd):
    by_image = {img["id"]: [] for img in data["images"]}
    for ann in data["annotations"]:
        if ann.get("image_id") not in by_image or ann.get("category_id") not in cat_index:
            raise SsdEdgeError("expected annotation %s to name a listed image and category, got "
                               "image_id %s, category_id %s" % (ann.get("id"), ann.get("image_id"),
                                                                ann.get("category_id")))
        if ann.get("iscrowd", 0) and not include_crowd:
            continue
        by_image[ann["image_id"]].append(ann)
    records, skipped = [], []
    for img in data["images"]:
        path = os.path.join(image_dir, img["file_name"])
        if not os.path.isfile(path):
            skipped.append((path, "image missing"))
            continue
        anns = by_image[img["id"]]
        xywh = np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        area = [a["area"] if "area" in a else a["bbox"][2] * a["bbox"][3] for a in anns]
        records.append(make_record(img["id"], path, boxes, [cat_index[a["category_id"]] for a in anns],
                                   iscrowd=[bool(a.get("iscrowd", 0)) for a in anns], area=area))
    return records, skipped
