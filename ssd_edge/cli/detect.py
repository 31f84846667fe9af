"""ssd-detect: detections on images, folders and videos → annotated files plus one JSON.

    ssd-detect photos/ clip.mp4 --model model.onnx --output-dir out
    # out/<name>.jpg, out/clip.mp4 (annotated) and out/detections.json (docs/formats.md)
"""
import argparse
import json
import os
import sys

from ..errors import SsdEdgeError
from ..fileio import atomic_write_bytes, atomic_write_text, clean_stale, disk_errors
from .common import cli_entry
from .ranges import check_numeric_args
from .live import add_model_flags, detector_kwargs, log_to_stderr

#: Version of the ssd-detect JSON (docs/formats.md, "ssd-detect JSON").
DETECT_SCHEMA = 1
_MODEL_EXTS = (".onnx", ".ort", ".engine", ".plan", ".pth", ".pt")


def build_parser():
    p = argparse.ArgumentParser(prog="ssd-detect", description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders or videos")
    p.add_argument("--output-dir", default="ssd-detect-out", metavar="DIR",
                   help="folder for the annotated files and the JSON, created when missing "
                        "(default: %(default)s)")
    p.add_argument("--json", default="detections.json", metavar="NAME",
                   help="name of the detections file inside --output-dir")
    add_model_flags(p)
    return p


def expand(inputs):
    """``[(path, "image" | "video")]``: folders give their images and videos, sorted by name."""
    from ..runtime.stream.files import VIDEO_EXTS, is_image
    out = []
    for path in inputs:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.startswith("."))
            found = [(os.path.join(path, n), "image" if is_image(n) else "video") for n in names
                     if is_image(n) or os.path.splitext(n)[1].lower() in VIDEO_EXTS]
            if not found:
                raise SsdEdgeError("expected images or videos in folder %s, found none" % path)
            out += found
        elif os.path.isfile(path):
            if os.path.splitext(path)[1].lower() in _MODEL_EXTS:
                raise SsdEdgeError("expected images, videos or folders as inputs, got the model "
                                   "file %s; pass it with --model %s" % (path, path))
            out.append((path, "image" if is_image(path) else "video"))
        else:
            raise SsdEdgeError("expected an image, a video or a folder, got %s, which does not "
                               "exist" % path)
    return out


class _Names:
    """Output file names in one folder, made unique (a/x.jpg and b/x.jpg → x.jpg, x_1.jpg)."""

    def __init__(self, folder):
        self.folder, self.used = folder, set()

    def __call__(self, path, ext=None):
        stem, old = os.path.splitext(os.path.basename(path))
        ext = ext or old
        name, i = stem + ext, 0
        while name in self.used:
            i += 1
            name = "%s_%d%s" % (stem, i, ext)
        self.used.add(name)
        return os.path.join(self.folder, name)


def detect_image(det, path, out_path, overlay):
    from ..runtime.stream import draw
    from ..runtime.stream.frames import import_cv2
    from ..imagecheck import read_image
    cv2 = import_cv2()
    image = read_image(path)        # header size checked before decoding
    dets = det(image)
    ok, data = cv2.imencode(os.path.splitext(out_path)[1], draw(image, dets, overlay))
    if not ok:
        raise SsdEdgeError("cannot encode %s" % out_path)
    atomic_write_bytes(out_path, data.tobytes())
    h, w = image.shape[:2]
    return {"path": path, "type": "image", "output": out_path, "frame_size": [w, h], "fps": None,
            "frames": [{"index": 0, "pts": 0.0, "detections": dets.to_list()}]}


def detect_video(det, path, out_path, overlay):
    from ..runtime.stream import Pipeline, Sink, VideoFileSource, VideoSink
    frames = []

    class Collect(Sink):
        wants_image = False

        def write(self, image, frame, dets):
            frames.append({"index": int(frame.index), "pts": round(float(frame.pts), 6),
                           "detections": dets.to_list()})

    source = VideoFileSource(path).open()
    pipe = Pipeline(source, det, [VideoSink(out_path), Collect(path)], overlay=overlay)
    pipe.run()
    size = list(pipe.stats.frame_size) if pipe.stats.frame_size else None
    return {"path": path, "type": "video", "output": out_path, "frame_size": size,
            "fps": source.fps, "frames": frames}


@cli_entry("ssd-detect")
def main(argv=None):
    args = check_numeric_args(build_parser().parse_args(argv))
    log_to_stderr("ssd-detect")
    from ..runtime.stream import CODECS, OverlayOptions, load_detector
    from ..runtime.stream.overlay import DEFAULT_OVERLAY
    overlay = OverlayOptions.parse(args.overlay, alpha=args.alpha, fps=False)
    items = expand(args.inputs)
    with disk_errors(args.output_dir):
        os.makedirs(args.output_dir, exist_ok=True)
    clean_stale(args.output_dir)         # .part files a killed run left behind
    det = load_detector(args.model, **detector_kwargs(args))
    overlay = overlay.for_model(det.spec.num_classes, args.overlay != DEFAULT_OVERLAY)
    names, results = _Names(args.output_dir), []
    try:
        for path, kind in items:
            if kind == "image":
                results.append(detect_image(det, path, names(path), overlay))
            else:
                ext = os.path.splitext(path)[1].lower()
                out = names(path, ext if ext in CODECS else ".mp4")
                results.append(detect_video(det, path, out, overlay))
            n = sum(len(f["detections"]) for f in results[-1]["frames"])
            print("%s: %d frame(s), %d detection(s) -> %s" % (
                path, len(results[-1]["frames"]), n, results[-1]["output"]), file=sys.stderr)
    finally:
        close = getattr(det, "close", None)
        if close:
            close()
    doc = {"schema": DETECT_SCHEMA, "model": str(getattr(det, "path", args.model)),
           "backend": str(getattr(det, "backend_name", "")),
           "precision": str(getattr(det, "precision", "")), "inputs": results}
    json_path = os.path.join(args.output_dir, args.json)
    atomic_write_text(json_path, json.dumps(doc, indent=1) + "\n")
    print("detections: %s" % json_path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
