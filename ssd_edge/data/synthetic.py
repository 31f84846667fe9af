"""A deterministic synthetic detection dataset in VOC layout: circles, squares, triangles, stars.

Random size, colour, rotation, overlap and occlusion on gradient, cloud, blurred-blob and stripe
backgrounds with clutter lines, lighting, noise and blur. Image ``i`` of a seed depends only on
``(seed, i)``, so 100 images are the first 100 of 1000 and a held-out split is simply another
seed. The same bytes come out on every run with the same OpenCV build (JPEG encoding is OpenCV's).

Command line::

    python -m ssd_edge.data.synthetic --out DIR --images 500 --seed 0 [--split trainval]

Images and XML files are written first and the split list last (atomically), so an interrupted
run never leaves a split that lists missing files.
"""
import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import SsdEdgeError
from ..fileio import atomic_write_text
from .backgrounds import random_background
from ..errors import cli_entry
from .shapes import SHAPES, finish_image, random_spec, render


def generate_voc(out_dir, n_images, seed=0, image_size=(320, 240), split="trainval",
                 max_objects=5, jpeg_quality=92):
    """Write ``n_images`` synthetic images with annotations in VOC layout under ``out_dir``.

    Args:
        out_dir: dataset folder (created); other splits already in it are kept.
        n_images: number of images.
        seed: the seed; image ids are ``<split>_<index:06d>``.
        image_size: ``(W, H)`` in pixels.
        split: the ``ImageSets/Main/<split>.txt`` to write.
        max_objects: 1..max_objects shapes are drawn per image (some may end up hidden).
    Returns:
        dict with ``root``, ``split``, ``images``, ``objects`` (count per class name) and
        ``difficult`` (count of objects flagged difficult).
    """
    import cv2
    width, height = int(image_size[0]), int(image_size[1])
    if n_images < 1 or width < 32 or height < 32 or max_objects < 1:
        raise SsdEdgeError("expected at least 1 image of at least 32x32 pixels and max_objects >= 1,"
                           " got %d images of %dx%d, max_objects %d"
                           % (n_images, width, height, max_objects))
    ann_dir, img_dir, set_dir = (os.path.join(out_dir, p)
                                 for p in ("Annotations", "JPEGImages", "ImageSets/Main"))
    for d in (ann_dir, img_dir, set_dir):
        os.makedirs(d, exist_ok=True)
    counts, difficult, ids = dict.fromkeys(SHAPES, 0), 0, []
    for i in range(n_images):
        image_id = "%s_%06d" % (split, i)
        image, objects = synthesize(seed, i, width, height, max_objects)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        with open(os.path.join(img_dir, image_id + ".jpg"), "wb") as f:
            f.write(buf.tobytes())
        with open(os.path.join(ann_dir, image_id + ".xml"), "wb") as f:
            f.write(voc_xml(image_id + ".jpg", width, height, objects))
        for o in objects:
            counts[SHAPES[o["kind"]]] += 1
            difficult += o["difficult"]
        ids.append(image_id)
    atomic_write_text(os.path.join(out_dir, "labels.txt"), "\n".join(SHAPES) + "\n")
    atomic_write_text(os.path.join(set_dir, split + ".txt"), "\n".join(ids) + "\n")
    return {"root": os.fspath(out_dir), "split": split, "images": n_images, "objects": counts,
            "difficult": difficult}


def synthesize(seed, index, width, height, max_objects=5):
    """Image ``index`` of ``seed``: ``(H, W, 3) uint8`` BGR and its objects (see shapes.render)."""
    rng = np.random.default_rng([int(seed), int(index)])
    background = random_background(rng, width, height)
    specs = [random_spec(rng, width, height) for _ in range(int(rng.integers(1, max_objects + 1)))]
    image, objects = render(background, specs)
    return finish_image(rng, image), objects


def voc_xml(filename, width, height, objects):
    """A VOC annotation (UTF-8 bytes); boxes written 1-based as VOC does."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    for tag, v in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(v)
    ET.SubElement(root, "segmented").text = "0"
    for o in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = SHAPES[o["kind"]]
        ET.SubElement(obj, "pose").text = "Unspecified"
        for tag in ("truncated", "occluded", "difficult"):
            ET.SubElement(obj, tag).text = str(int(o[tag]))
        box = ET.SubElement(obj, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), o["box"]):
            ET.SubElement(box, tag).text = str(int(v) + 1)
    return ET.tostring(root, encoding="utf-8")


def parse_size(text):
    """``"320x240"`` → ``(320, 240)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise SsdEdgeError("expected a size like 320x240, got %r" % text)


@cli_entry("ssd_edge.data.synthetic")
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ssd_edge.data.synthetic",
                                description="Write a synthetic shapes dataset in VOC layout.")
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--images", type=int, default=500, help="number of images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--size", default="320x240", help="image size WxH (default 320x240)")
    p.add_argument("--split", default="trainval", help="split name (default trainval)")
    p.add_argument("--max-objects", type=int, default=5, help="shapes per image, at most")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    info = generate_voc(a.out, a.images, a.seed, parse_size(a.size), a.split, a.max_objects)
    print("wrote %d images (%s; %d difficult) to %s split %s in %.1f s"
          % (info["images"], ", ".join("%s %d" % kv for kv in info["objects"].items()),
             info["difficult"], info["root"], info["split"], time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
