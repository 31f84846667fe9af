"""The dataset object every reader returns, and the helpers the readers share.

A dataset is a list of *records* (image id, image path, ground truth) built once when the reader
is constructed, so that ``annotation(i)`` is a dictionary look-up that never decodes an image
(evaluation needs the ground truth of thousands of images; only the detector needs pixels).

Conventions (every reader):

* images are returned as OpenCV gives them: ``(H, W, 3) uint8`` BGR;
* ``boxes`` are ``(N, 4) float32`` pixel ``(x1, y1, x2, y2)``;
* ``labels`` are ``(N,) int64`` class ids in ``class_names`` (``class_names[0] == "BACKGROUND"``,
  so ids run 1..C-1);
* ``difficult`` and ``iscrowd`` are ``(N,) bool``; ``area`` ``(N,) float32`` only where the format
  carries it (COCO).
"""
import logging
import os
import struct
from typing import List, NamedTuple, Optional

import numpy as np

from ..errors import SsdEdgeError
from ..fileio import IMAGE_EXTENSIONS
from ..labels import read_labels

log = logging.getLogger("ssd_edge.data")

BACKGROUND = "BACKGROUND"


class Record(NamedTuple):
    """Ground truth of one image as a reader found it (boxes may be normalised: see the reader)."""
    image_id: str
    path: str
    boxes: np.ndarray           # (N, 4) float32 xyxy
    labels: np.ndarray          # (N,) int64
    difficult: np.ndarray       # (N,) bool
    iscrowd: np.ndarray         # (N,) bool
    area: Optional[np.ndarray]  # (N,) float32 or None


def make_record(image_id, path, boxes, labels, difficult=None, iscrowd=None, area=None):
    """Build a :class:`Record`, normalising dtypes and shapes (``boxes`` become ``(N, 4) float32``)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    flags = lambda v: np.zeros(n, bool) if v is None else np.asarray(v, bool).reshape(n)  # noqa: E731
    return Record(str(image_id), str(path), boxes, np.asarray(labels, np.int64).reshape(n),
                  flags(difficult), flags(iscrowd),
                  None if area is None else np.asarray(area, np.float32).reshape(n))


class DetectionDataset:
    """A detection dataset: ``len``, ``ds[i] -> (image_bgr, target)``, ``annotation(i)``.

    Attributes:
        root: the folder (or file) the dataset was read from.
        class_names: tuple of names, ``class_names[0] == "BACKGROUND"``.
        skipped: list of ``(path, reason)`` for images or annotation files that were left out
            (malformed XML, missing image...). ``len(skipped)`` is the count logged at the end.
        unknown_classes: ``{name: count}`` of objects whose class is not in ``class_names``
            (they are dropped, and reported once at the end).
    """

    def __init__(self, root, class_names, records, skipped=(), unknown_classes=None):
        self.root = str(root)
        self.class_names = tuple(class_names)
        self._records = list(records)
        self.skipped = list(skipped)
        self.unknown_classes = dict(unknown_classes or {})

    def __len__(self):
        return len(self._records)

    def __repr__(self):
        return "%s(%r, %d images, %d classes, %d skipped)" % (
            type(self).__name__, self.root, len(self), len(self.class_names) - 1, len(self.skipped))

    def image_id(self, i):
        return self._records[i].image_id

    def image_path(self, i):
        return self._records[i].path

    def image(self, i):
        """Decode image ``i``: ``(H, W, 3) uint8`` BGR. Raises SsdEdgeError if it cannot."""
        return read_image(self._records[i].path)

    def annotation(self, i, image_size=None):
        """Ground truth of image ``i`` without decoding it: a fresh target dict (see module doc).

        ``image_size`` ``(W, H)`` is only used by readers whose files store normalised boxes.
        """
        r = self._records[i]
        target = {"boxes": self._pixel_boxes(i, r, image_size), "labels": r.labels.copy(),
                  "difficult": r.difficult.copy(), "iscrowd": r.iscrowd.copy()}
        if r.area is not None:
            target["area"] = r.area.copy()
        return target

    def __getitem__(self, i):
        if not -len(self) <= i < len(self):
            raise IndexError("index %d out of range for %d images" % (i, len(self)))
        i %= len(self)
        image = self.image(i)
        return image, self.annotation(i, (image.shape[1], image.shape[0]))

    def _pixel_boxes(self, i, record, image_size):
        return record.boxes.copy()

    def object_counts(self):
        """Objects per class id over the dataset (``len(class_names)`` ints; index 0 is 0)."""
        counts = np.zeros(len(self.class_names), np.int64)
        for r in self._records:
            np.add.at(counts, r.labels, 1)
        return counts.tolist()

    def log_summary(self):
        """Log (once, at the end of reading) what was skipped and which classes were unknown."""
        if self.skipped:
            log.warning("%s: skipped %d image(s) or annotation file(s); first: %s (%s)",
                        self.root, len(self.skipped), self.skipped[0][0], self.skipped[0][1])
        if self.unknown_classes:
            names = ", ".join("%s (%d)" % kv for kv in sorted(self.unknown_classes.items()))
            log.warning("%s: dropped objects whose class is not in the labels: %s", self.root, names)


def finish(records, class_names, classes=None, skip_empty=True, keep_difficult=True):
    """Apply the options every reader shares; returns ``(records, class_names)``.

    Args:
        records: list of :class:`Record` with labels in ``class_names``.
        class_names: names with BACKGROUND at 0.
        classes: optional subset of names; labels are remapped to ``1..len(classes)`` in the
            given order, objects of other classes dropped and images left with no object dropped.
        skip_empty: drop images without any object (pytorch-ssd's VOC reader does).
        keep_difficult: False drops objects flagged difficult.
    """
    if not keep_difficult:
        records = [_subset(r, ~r.difficult) for r in records]
    if classes is not None:
        records, class_names = select_classes(records, class_names, classes)
        skip_empty = True
    if skip_empty:
        records = [r for r in records if len(r.labels)]
    return records, tuple(class_names)


def select_classes(records, class_names, classes):
    """Keep only ``classes`` (names), remapped to ids ``1..len(classes)`` in the given order."""
    classes = normalize_classes(classes)
    missing = [c for c in classes if c not in class_names[1:]]
    if missing or not classes or len(set(classes)) != len(classes):
        raise SsdEdgeError("expected --classes to be distinct names from the dataset's labels (%s), "
                           "got %s" % (", ".join(class_names[1:]), ", ".join(classes) or "nothing"))
    lut = np.zeros(len(class_names), np.int64)
    for new_id, name in enumerate(classes, 1):
        lut[class_names.index(name)] = new_id
    out = []
    for r in records:
        r = _subset(r, lut[r.labels] > 0)
        out.append(r._replace(labels=lut[r.labels]))
    return out, (BACKGROUND,) + tuple(classes)


def _subset(r, keep):
    return r._replace(boxes=r.boxes[keep], labels=r.labels[keep], difficult=r.difficult[keep],
                      iscrowd=r.iscrowd[keep], area=None if r.area is None else r.area[keep])


def require_nonempty(records, what, fix):
    if not records:
        raise SsdEdgeError("expected at least one annotated image in %s, got none; %s" % (what, fix))


def find_image(folder, stem):
    """Path of ``folder/stem.<ext>`` for the first extension that exists (any case), or None."""
    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            p = os.path.join(folder, stem + e)
            if os.path.isfile(p):
                return p
    return None


def read_labels_file(path):
    """Read a dataset's ``labels.txt`` with the one labels reader (:func:`ssd_edge.labels.
    read_labels`: one class per line, no blank line between names), also accepting
    pytorch-ssd's older comma-separated single line. Returns names with BACKGROUND at 0 (added
    when absent)."""
    lines = list(read_labels(path))
    if len(lines) == 1 and "," in lines[0]:
        lines = [c.strip() for c in lines[0].split(",") if c.strip()]
    if lines and lines[0].upper() == BACKGROUND:
        lines = lines[1:]
    if not lines:
        raise SsdEdgeError("expected one class name per line in %s, got an empty file" % path)
    if len(set(lines)) != len(lines):
        raise SsdEdgeError("expected distinct class names in %s, got duplicates" % path)
    return (BACKGROUND,) + tuple(lines)


def read_image(path):
    """Decode an image file to ``(H, W, 3) uint8`` BGR (grey and 16-bit images converted)."""
    import cv2
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise SsdEdgeError("cannot read image %s: %s" % (path, e.strerror or e))
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SsdEdgeError("expected a decodable JPEG/PNG/BMP/TIFF image at %s, got %d bytes that "
                           "OpenCV cannot decode; replace the file or remove its id from the split"
                           % (path, data.size))
    return image


def image_size(path):
    """``(W, H)`` of an image, from its header where possible (JPEG, PNG, BMP), else by decoding."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            return struct.unpack(">II", head[16:24])
        if head[:2] == b"BM":
            w, h = struct.unpack("<ii", head[18:26])
            return w, abs(h)
        if head[:2] == b"\xff\xd8":
            f.seek(2)
            size = _jpeg_size(f)
            if size:
                return size
    image = read_image(path)
    return image.shape[1], image.shape[0]


def _jpeg_size(f):
    """Walk JPEG markers to the first start-of-frame; returns ``(W, H)`` or None."""
    while True:
        b = f.read(1)
        while b and b != b"\xff":
            b = f.read(1)
        while b == b"\xff":
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        seg = f.read(2)
        if len(seg) < 2:
            return None
        length = struct.unpack(">H", seg)[0]
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data = f.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return w, h
        f.seek(length - 2, 1)


def normalize_classes(classes) -> Optional[List[str]]:
    """``"a,b"`` or ``["a", "b"]`` or None → list of names or None."""
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = classes.split(",")
    return [c.strip() for c in classes if c.strip()]
