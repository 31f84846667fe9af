"""``make demo``: the bundled model from checkpoint to annotated video, nothing downloaded.

    python -m ssd_edge.demo [--output-dir demo-output]

1. writes calibration images with the synthetic dataset generator (a seed the model was not
   trained on) into ``<output-dir>/calib-images`` (kept, so a second run skips this);
2. ``ssd-export`` of the bundled model (``ssd_edge/assets/shapes-mb2-ssd-lite.pth``) to FP32
   ONNX and to INT8 ONNX calibrated on those images, each checked against PyTorch;
3. ``ssd-live`` of the INT8 model on ``demo://`` (the bundled clip), headless, to an annotated
   MP4 and a ``.jsonl`` of detections, with its FPS and per-stage summary;
4. prints where everything is.

Each step runs the same code as the command it names, and the command is printed first, so
the demo doubles as a copy-paste tutorial.
"""
import argparse
import contextlib
import logging
import os
import shlex
import sys
import time

from .cli.common import cli_entry
from .errors import SsdEdgeError

#: Seed of the calibration images (the training and held-out splits use other seeds).
CALIB_SEED = 9001
CALIB_SPLIT = "calib"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m ssd_edge.demo",
                                description="Export the bundled model to FP32 and INT8 ONNX and "
                                "run it on the bundled clip (what `make demo` runs).")
    p.add_argument("--output-dir", default="demo-output", metavar="DIR",
                   help="where the artifacts, video and detections go (default demo-output)")
    p.add_argument("--calib-images", type=int, default=100, metavar="N",
                   help="synthetic calibration images for INT8 (default 100)")
    p.add_argument("--backend", default="auto", help="ssd-live backend (default auto)")
    p.add_argument("--source", default="demo://", help="ssd-live source (default demo://)")
    return p


def calibration_images(folder, count):
    """``count`` synthetic shapes images (JPEG, 320x240) in ``folder/JPEGImages``; reused when
    a previous run wrote the same number."""
    from .data import generate_voc
    listing = os.path.join(folder, "ImageSets", "Main", CALIB_SPLIT + ".txt")
    images = os.path.join(folder, "JPEGImages")
    if os.path.isfile(listing):
        with open(listing, encoding="utf-8") as f:
            ids = [ln.strip() for ln in f if ln.strip()]
        if len(ids) == count and all(os.path.isfile(os.path.join(images, i + ".jpg"))
                                     for i in ids):
            return images, False
    generate_voc(folder, count, seed=CALIB_SEED, image_size=(320, 240), split=CALIB_SPLIT)
    return images, True


@contextlib.contextmanager
def _log_once():
    """One handler for ssd-edge's log lines while the demo runs: the export and live steps run
    in this process, and each would otherwise add its own and print every line twice. The
    logger is restored afterwards."""
    logger = logging.getLogger("ssd_edge")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("ssd-edge: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def _step(title, prog, args):
    print("\n== %s\n$ %s %s" % (title, prog, " ".join(shlex.quote(str(a)) for a in args)),
          flush=True)


def _run(prog, main, args):
    rc = main([str(a) for a in args])
    if rc:
        raise SsdEdgeError("%s exited with status %d; see its message above" % (prog, rc))


@cli_entry("ssd_edge.demo")
def main(argv=None):
    a = build_parser().parse_args(argv)
    if a.calib_images < 1:
        raise SsdEdgeError("expected --calib-images N with N >= 1, got %d" % a.calib_images)
    from .runtime.assets import require_bundled_model
    model = require_bundled_model(
        "the demo needs it: reinstall ssd-edge, or point SSD_EDGE_ASSETS at a folder holding it",
        checkpoint=True)
    with _log_once():
        return run_demo(a, model)


def run_demo(a, model):
    """The demo's steps (see the module doc) for parsed arguments ``a`` and the model path."""
    out = os.path.abspath(a.output_dir)
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, os.path.splitext(os.path.basename(model))[0])
    t0 = time.perf_counter()

    print("== calibration images (synthetic shapes, seed %d)" % CALIB_SEED, flush=True)
    calib, made = calibration_images(os.path.join(out, "calib-images"), a.calib_images)
    print("%s %d images in %s" % ("wrote" if made else "reusing", a.calib_images, calib))

    from .cli.export import main as export_main
    args = [model, "--output-dir", out, "--int8", "--calib", calib,
            "--calib-count", a.calib_images]
    _step("export the bundled model: FP32 and INT8 ONNX, checked against PyTorch", "ssd-export",
          args)
    t1 = time.perf_counter()
    _run("ssd-export", export_main, args)
    t_export = time.perf_counter() - t1

    from .cli.live import main as live_main
    video, jsonl = stem + ".int8.mp4", stem + ".int8.jsonl"
    args = ["--model", stem + ".int8.onnx", "--source", a.source, "--headless",
            "--backend", a.backend, "--output", video, "--output", jsonl]
    _step("run the INT8 model on the demo clip", "ssd-live", args)
    t2 = time.perf_counter()
    _run("ssd-live", live_main, args)
    sys.stderr.flush()
    t_live = time.perf_counter() - t2

    print("\n== done in %.0f s (export %.0f s, live %.0f s)" % (
        time.perf_counter() - t0, t_export, t_live))
    for label, path in (("FP32 ONNX", stem + ".onnx"), ("INT8 ONNX", stem + ".int8.onnx"),
                        ("annotated video", video), ("detections (.jsonl)", jsonl)):
        print("  %-20s %s" % (label, path))
    print("next: ssd-live --model %s --source demo:// --loop -1 --serve 8080   (then open "
          "http://127.0.0.1:8080)" % shlex.quote(stem + ".int8.onnx"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
