"""A short deterministic synthetic video of moving, rotating, bouncing shapes, with ground truth.

Writes ``<name>.mp4`` (OpenCV's ``mp4v`` codec, which every OpenCV build with FFmpeg writes) and
``<name>.json`` beside it::

    {"schema": 1, "video": "clip.mp4", "fps": 30,
     "frame_size": [W, H], "seed": 0, "labels": ["BACKGROUND", "circle", ...],
     "frames": [{"frame": 0, "objects": [{"label": "star", "class_id": 4,
                                          "box": [x1, y1, x2, y2], "difficult": false}]}]}

Boxes are pixel ``(x1, y1, x2, y2)`` with the VOC reader's convention (the inclusive 0-based
pixel indices of the visible part). Command line::

    python -m ssd_edge.data.video --out clip.mp4 --frames 150 --seed 0
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from ..errors import SsdEdgeError
from ..fileio import atomic_write_text
from .backgrounds import random_background
from ..errors import cli_entry
from .common import BACKGROUND
from .shapes import SHAPES, contrasting, finish_image, random_spec, render

SCHEMA = 1


def generate_video(path, n_frames=150, seed=0, size=(640, 480), fps=30, n_objects=5):
    """Write the clip to ``path`` (``.mp4``) and its ground truth to ``<path stem>.json``.

    Args:
        path: output video file; its folder must exist.
        n_frames: number of frames.
        seed: the seed (same seed, same frames and ground truth).
        size: ``(W, H)`` in pixels.
        fps: frames per second written in the container.
        n_objects: shapes moving in the scene.
    Returns:
        ``(video_path, json_path)``.
    """
    path = os.fspath(path)
    width, height = int(size[0]), int(size[1])
    if n_frames < 1 or width < 32 or height < 32 or n_objects < 1 or fps <= 0:
        raise SsdEdgeError("expected n_frames >= 1, a size of at least 32x32, n_objects >= 1 and "
                           "fps > 0, got %d, %dx%d, %d, %s" % (n_frames, width, height, n_objects, fps))
    rng = np.random.default_rng([int(seed), 7])
    background = random_background(rng, width, height)
    specs = [random_spec(rng, width, height, 0.09, 0.22) for _ in range(n_objects)]
    everywhere = np.ones((height, width), bool)
    specs = [s._replace(colour=tuple(contrasting(s.colour, background, everywhere))) for s in specs]
    speed = max(width, height) / 640.0
    velocity = rng.uniform(1.0, 4.0, (n_objects, 2)) * rng.choice([-1, 1], (n_objects, 2)) * speed
    spin = rng.uniform(-0.06, 0.06, n_objects)
    light = rng.uniform(-0.2, 0.2, 2)
    frames_gt = []
    with _video_writer(path, fps, width, height) as writer:
        for i in range(n_frames):
            image, objects = render(background, specs, contrast=False)
            writer.write(finish_image(rng, image, light=light, noise=3.0, blur=0.0))
            frames_gt.append({"frame": i, "objects": [
                {"label": SHAPES[o["kind"]], "class_id": o["kind"] + 1,
                 "box": [float(v) for v in o["box"]], "difficult": o["difficult"]}
                for o in objects]})
            specs = _step(specs, velocity, spin, width, height)
    json_path = os.path.splitext(path)[0] + ".json"
    atomic_write_text(json_path, json.dumps({
        "schema": SCHEMA, "video": os.path.basename(path), "fps": fps,
        "frame_size": [width, height], "seed": int(seed), "labels": [BACKGROUND] + list(SHAPES),
        "frames": frames_gt}, indent=1) + "\n")
    return path, json_path


def _step(specs, velocity, spin, width, height):
    """Advance every shape one frame; shapes bounce off the frame edges (velocity updated in place)."""
    out = []
    for k, s in enumerate(specs):
        cx, cy = s.cx + velocity[k, 0], s.cy + velocity[k, 1]
        margin = 0.5 * s.radius
        # Point the velocity inwards (not just flip it), so a shape never jitters at an edge.
        if cx < margin or cx > width - margin:
            velocity[k, 0] = abs(velocity[k, 0]) * (1 if cx < margin else -1)
        if cy < margin or cy > height - margin:
            velocity[k, 1] = abs(velocity[k, 1]) * (1 if cy < margin else -1)
        out.append(s._replace(cx=float(cx), cy=float(cy), angle=float(s.angle + spin[k])))
    return out


class _video_writer:
    """``cv2.VideoWriter`` on a temporary ``.mp4`` beside ``path``, renamed onto it on success
    (the container is chosen from the extension, so fileio's ``.part`` names cannot be used)."""

    def __init__(self, path, fps, width, height):
        self.path, self.args = path, (float(fps), (width, height))

    def __enter__(self):
        import cv2
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise SsdEdgeError("expected the output folder %s to exist, got none" % folder)
        fd, self.tmp = tempfile.mkstemp(prefix=".video.", suffix=".mp4", dir=folder)
        os.close(fd)
        self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), *self.args)
        if not self.writer.isOpened():
            os.unlink(self.tmp)
            raise SsdEdgeError("expected OpenCV to write MP4 (mp4v) video, but this OpenCV build "
                               "cannot; install opencv-python-headless, which includes FFmpeg")
        return self.writer

    def __exit__(self, exc_type, exc, tb):
        self.writer.release()
        if exc_type is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp made it private; a video is not
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.unlink(self.tmp)
        return False


def load_video_ground_truth(json_path):
    """Read the json written by :func:`generate_video`: ``(labels, targets)`` with one target dict
    per frame (``boxes`` (N, 4) float32, ``labels`` (N,) int64, ``difficult`` (N,) bool)."""
    with open(json_path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("schema") != SCHEMA or "frames" not in data:
        raise SsdEdgeError("expected a synthetic video ground truth (schema %d, frames) in %s, got "
                           "schema %r" % (SCHEMA, json_path, data.get("schema")))
    targets = []
    for fr in data["frames"]:
        objs = fr["objects"]
        targets.append({"boxes": np.asarray([o["box"] for o in objs], np.float32).reshape(-1, 4),
                        "labels": np.asarray([o["class_id"] for o in objs], np.int64),
                        "difficult": np.asarray([o["difficult"] for o in objs], bool)})
    return tuple(data["labels"]), targets


@cli_entry("ssd_edge.data.video")
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ssd_edge.data.video",
                                description="Write a synthetic video of moving shapes (+ json).")
    p.add_argument("--out", required=True, help="output .mp4 (ground truth goes to .json beside it)")
    p.add_argument("--frames", type=int, default=150, help="number of frames (default 150)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--objects", type=int, default=5, help="moving shapes (default 5)")
    a = p.parse_args(argv)
    from .synthetic import parse_size
    t0 = time.perf_counter()
    video, gt = generate_video(a.out, a.frames, a.seed, parse_size(a.size), a.fps, a.objects)
    print("wrote %s (%d frames) and %s in %.1f s" % (video, a.frames, gt, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
