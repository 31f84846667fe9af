"""Pascal VOC layout, as pytorch-ssd (and the dusty-nv fork, and CVAT's export) read and write it.

::

    root/Annotations/<id>.xml
    root/ImageSets/Main/<split>.txt      (trainval, test, train, val; falls back to default.txt)
    root/JPEGImages/<id>.(jpg|jpeg|png|bmp|tif|tiff)
    root/labels.txt                      (optional: one class per line, overrides the 20 VOC classes)

Pixel convention: VOC coordinates are 1-based (Matlab). pytorch-ssd's ``VOCDataset`` subtracts 1
from all four of ``xmin, ymin, xmax, ymax``; ``one_based=True`` (the default) does the same, so
boxes, training targets and mAP agree with checkpoints trained there. Its eval script adds the 1
back to detections and subtracts it again, which cancels: detections are compared as they are.

Class names match exactly after stripping white space, then case-insensitively (the original
reader lower-cased names, the dusty-nv fork does not). Objects whose class is not in the labels
are dropped and counted in ``unknown_classes`` (one warning at the end); if *no* object of the
whole split has a known class, the labels are surely wrong and reading fails.
"""
import os
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import SsdEdgeError
from .common import (BACKGROUND, DetectionDataset, find_image, finish, log, make_record,
                     read_labels_file, require_nonempty)

VOC_CLASSES = (BACKGROUND, "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


class _Malformed(Exception):
    pass


class VOCDataset(DetectionDataset):
    """Read a VOC-layout folder (see the module doc).

    Args:
        root: the dataset folder.
        split: image set name; ``ImageSets/Main/<split>.txt``, else ``default.txt`` (CVAT).
        classes: optional subset of class names (list or ``"a,b"``): labels remapped to
            ``1..len(classes)`` in that order, images holding none of them skipped.
        keep_difficult: True keeps ``<difficult>1</difficult>`` objects with ``difficult=True``
            (evaluation ignores them); False drops them (what pytorch-ssd trains on).
        skip_empty: drop images without any (known) object, as the dusty-nv reader does.
        one_based: subtract 1 from the XML coordinates (pytorch-ssd's convention).
        labels: a labels file to use instead of ``root/labels.txt``.
    """

    def __init__(self, root, split="trainval", classes=None, keep_difficult=True, skip_empty=True,
                 one_based=True, labels=None):
        root = os.fspath(root)
        ann_dir, img_dir = _check_layout(root)
        split_file = _split_file(root, split)
        labels = os.fspath(labels) if labels else os.path.join(root, "labels.txt")
        names = read_labels_file(labels) if os.path.isfile(labels) else VOC_CLASSES
        lookup = _name_lookup(names)
        ids = _read_ids(split_file)
        records, skipped, unknown, n_objects = [], [], {}, 0
        for image_id in ids:
            xml_path = os.path.join(ann_dir, image_id + ".xml")
            image_path = find_image(img_dir, image_id)
            if not os.path.isfile(xml_path):
                skipped.append((xml_path, "annotation file missing"))
                continue
            if image_path is None:
                skipped.append((os.path.join(img_dir, image_id + ".jpg"), "image missing"))
                continue
            try:
                objects = _parse_xml(xml_path)
            except _Malformed as e:
                log.warning("skipping malformed annotation %s: %s", xml_path, e)
                skipped.append((xml_path, "malformed XML: %s" % e))
                continue
            n_objects += len(objects)
            records.append(_record(image_id, image_path, objects, lookup, unknown, one_based))
        if n_objects and sum(unknown.values()) == n_objects:
            raise SsdEdgeError("expected object names from %s (%s), got only %s in %s; fix the "
                               "labels file" % (labels if os.path.isfile(labels) else "the 20 VOC "
                                                "classes", ", ".join(names[1:]),
                                                ", ".join(sorted(unknown)), ann_dir))
        records, names = finish(records, names, classes, skip_empty, keep_difficult)
        super().__init__(root, names, records, skipped, unknown)
        self.split_file = split_file
        self.log_summary()
        require_nonempty(records, split_file, "check the ids in it, the Annotations and JPEGImages "
                         "folders%s" % (" and --classes" if classes else ""))


def _check_layout(root):
    if not os.path.isdir(root):
        raise SsdEdgeError("expected a VOC dataset folder at %s, got no such folder" % root)
    parts = [os.path.join(root, p) for p in ("Annotations", "JPEGImages")]
    for p in parts:
        if not os.path.isdir(p):
            raise SsdEdgeError("expected the folder %s in the VOC dataset, got none; a VOC dataset "
                               "has Annotations/, ImageSets/Main/ and JPEGImages/" % p)
    return parts


def _split_file(root, split):
    main = os.path.join(root, "ImageSets", "Main")
    path = os.path.join(main, "%s.txt" % split)
    if os.path.isfile(path):
        return path
    default = os.path.join(main, "default.txt")
    if os.path.isfile(default):
        log.info("%s not found; using %s (CVAT's export)", path, default)
        return default
    raise SsdEdgeError("expected the image list %s (or default.txt beside it), got neither; write "
                       "one image id per line" % path)


def _read_ids(path):
    with open(path, encoding="utf-8") as f:
        # VOC's per-class lists hold "<id> <flag>"; the id is the first field.
        ids = [ln.split()[0] for ln in f if ln.strip()]
    return list(dict.fromkeys(ids))


def _name_lookup(names):
    lookup = {}
    for i, n in enumerate(names[1:], 1):
        lookup.setdefault(n.lower(), i)
    for i, n in enumerate(names[1:], 1):
        lookup[n] = i
    return lookup


def _parse_xml(path):
    """Return ``[(name, [xmin, ymin, xmax, ymax], difficult)]``; raises _Malformed."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise _Malformed(str(e))
    objects = []
    for k, obj in enumerate(root.findall("object")):
        name, box = obj.findtext("name"), obj.find("bndbox")
        if not name or not name.strip() or box is None:
            raise _Malformed("object %d has no <name> or <bndbox>" % k)
        try:
            coords = [float(box.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")]
            difficult = int(float((obj.findtext("difficult") or "0").strip() or 0))
        except (TypeError, ValueError):
            raise _Malformed("object %d has a missing or non-numeric coordinate or flag" % k)
        objects.append((name.strip(), coords, bool(difficult)))
    return objects


def _record(image_id, image_path, objects, lookup, unknown, one_based):
    boxes, labels, difficult = [], [], []
    for name, coords, diff in objects:
        cls = lookup.get(name, lookup.get(name.lower()))
        if cls is None:
            unknown[name] = unknown.get(name, 0) + 1
            continue
        boxes.append(coords)
        labels.append(cls)
        difficult.append(diff)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if one_based:
        boxes -= 1
    return make_record(image_id, image_path, boxes, labels, difficult)
