"""Datasets: readers (VOC, Open Images csv, COCO json) and the synthetic data generators.

Every reader returns a :class:`DetectionDataset`: ``len(ds)``, ``ds[i] -> (image_bgr, target)``,
``ds.annotation(i)`` (ground truth without decoding the image), ``ds.class_names`` (BACKGROUND
at 0), ``ds.image_id(i)``, ``ds.skipped``. See :mod:`ssd_edge.data.common` for the conventions.

Importing this package is light: OpenCV is imported when an image is decoded or written.
"""
import os

from ..errors import SsdEdgeError
from .coco import CocoDataset
from .common import BACKGROUND, DetectionDataset, read_image, read_labels_file
from .open_images import OpenImagesDataset
from .voc import VOC_CLASSES, VOCDataset

DATASET_TYPES = ("voc", "open_images", "coco")

__all__ = ["BACKGROUND", "CocoDataset", "DATASET_TYPES", "DetectionDataset", "OpenImagesDataset",
           "VOCDataset", "VOC_CLASSES", "detect_type", "generate_video", "generate_voc",
           "load_dataset", "load_video_ground_truth", "read_image", "read_labels_file"]


# The generators are loaded on first use, so that ``python -m ssd_edge.data.synthetic`` (and
# .video) do not find their module already imported by this package (runpy warns about that).
_LAZY = {"generate_voc": "synthetic", "generate_video": "video", "load_video_ground_truth": "video"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module("." + _LAZY[name], __name__), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def detect_type(path):
    """Guess the layout of ``path``: ``"voc"``, ``"open_images"`` or ``"coco"``."""
    path = os.fspath(path)
    if os.path.isfile(path) and path.endswith(".json"):
        return "coco"
    if not os.path.isdir(path):
        raise SsdEdgeError("expected a dataset folder at %s, got no such folder" % path)
    if os.path.isdir(os.path.join(path, "Annotations")):
        return "voc"
    if any(n.startswith("sub-") and n.endswith("-annotations-bbox.csv") for n in os.listdir(path)):
        return "open_images"
    if os.path.isdir(os.path.join(path, "annotations")):
        return "coco"
    raise SsdEdgeError("expected a VOC (Annotations/), Open Images (sub-<split>-annotations-bbox.csv)"
                       " or COCO (annotations/instances_<split>.json) dataset at %s, got none of "
                       "these; pass the dataset type explicitly" % path)


def load_dataset(path, dataset_type=None, split=None, classes=None, **options):
    """Open a dataset of any supported layout.

    Args:
        path: dataset folder (or a COCO json file).
        dataset_type: ``"voc"``, ``"open_images"``, ``"coco"`` or None to detect it.
        split: split name; None picks the evaluation split of the layout (VOC ``test``, Open
            Images ``test``, COCO ``val2017``).
        classes: optional subset of class names (list or ``"a,b"``), remapped in that order.
        options: passed to the reader (``keep_difficult``, ``skip_empty``...).
    """
    dataset_type = dataset_type or detect_type(path)
    readers = {"voc": (VOCDataset, "test"), "open_images": (OpenImagesDataset, "test"),
               "coco": (CocoDataset, "val2017")}
    if dataset_type not in readers:
        raise SsdEdgeError("expected a dataset type in %s, got %r"
                           % (", ".join(DATASET_TYPES), dataset_type))
    reader, default_split = readers[dataset_type]
    return reader(path, split=split or default_split, classes=classes, **options)
