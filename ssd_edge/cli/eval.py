"""ssd-eval: mean average precision of any model artifact on a dataset, through the runtime.

    ssd-eval model.int8.onnx --dataset data/VOC2007 --metric voc07 --json eval.json --plot pr.png
    ssd-eval --dataset shapes-test/          # the bundled model

The artifact (``.pth``, ``.onnx``, ``.fp16.onnx``, ``.int8.onnx``, ``.engine``) runs through
``ssd_edge.Detector``, exactly as ``ssd-live`` runs it, so the number is the deployed model's.
Fields of the JSON: docs/evaluation.md.
"""
import argparse
import logging
import os
import sys

from ..errors import SsdEdgeError, missing_extra
from ..fileio import make_parent
from .common import BACKEND_CHOICES, NMS as _NMS, add_threads_flag, cli_entry, threads_arg
from .ranges import check_numeric_args

EPILOG = """defaults follow pytorch-ssd's eval_ssd.py: confidence threshold 0.01, NMS IoU 0.45,
200 candidates per class, no cap on detections per image, VOC07 11-point AP at IoU > 0.5
with difficult objects ignored.

examples:
  ssd-eval mb2-ssd-lite.pth --dataset VOC2007 --labels labels.txt
  ssd-eval model.int8.onnx --dataset VOC2007 --classes person,car --json int8.json
  ssd-eval model.onnx --dataset coco --dataset-type coco --split val2017 --metric coco"""


def build_parser():
    p = argparse.ArgumentParser(prog="ssd-eval", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Evaluate a model artifact on a dataset: per-class AP "
                                "and mAP (VOC07, VOC12 or COCO), JSON and a precision-recall plot.")
    p.add_argument("model", nargs="?", help=".pth, .onnx, .fp16.onnx, .int8.onnx or .engine "
                   "(default: the bundled model)")
    p.add_argument("--dataset", required=True, metavar="DIR",
                   help="dataset folder (VOC, Open Images) or COCO folder/annotation json")
    p.add_argument("--dataset-type", choices=["voc", "open_images", "coco"],
                   help="layout (default: detected from the folder)")
    p.add_argument("--split",
                   help="split (default: test for VOC and Open Images, val2017 for COCO)")
    p.add_argument("--classes", help="evaluate only these dataset classes, e.g. person,car")
    p.add_argument("--metric", choices=["voc07", "voc12", "coco"], default="voc07",
                   help="voc07 (11-point, pytorch-ssd's default), voc12 (area) or coco "
                   "(mAP@[.5:.95])")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="auto")
    p.add_argument("--conf", type=float, default=0.01, help="confidence threshold (default 0.01)")
    p.add_argument("--iou", type=float, default=_NMS.iou_threshold,
                   help="NMS IoU threshold (default %g)" % _NMS.iou_threshold)
    p.add_argument("--max-detections", type=int, default=-1,
                   help="cap per image, highest scores kept (default -1: none, as pytorch-ssd)")
    p.add_argument("--labels", help="labels.txt for a checkpoint without a spec sidecar or a "
                   "foreign ONNX")
    p.add_argument("--net", help="architecture of a foreign ONNX (e.g. mb1-ssd)")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON (docs/evaluation.md)")
    p.add_argument("--plot", metavar="PNG", help="write the precision-recall curves as PNG")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N images")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_threads_flag(p)
    return p


def check_args(a):
    """Fail on bad flags before the dataset or the model is opened."""
    if not 0.0 <= a.conf <= 1.0:
        raise SsdEdgeError("expected --conf in [0, 1], got %g" % a.conf)
    if not 0.0 < a.iou <= 1.0:
        raise SsdEdgeError("expected --iou in (0, 1], got %g" % a.iou)
    if a.limit is not None and a.limit < 1:
        raise SsdEdgeError("expected --limit N with N >= 1, got %d" % a.limit)
    for path in (a.json, a.plot):
        if path:
            make_parent(path)
    if a.plot:
        try:
            import matplotlib  # noqa: F401  (fail now, not after the whole evaluation)
        except ImportError:
            raise missing_extra("matplotlib", "eval")


def check_classes(model_labels, dataset_labels, model_path):
    """Every dataset class must be one of the model's labels (matched by name)."""
    missing = [n for n in dataset_labels[1:] if n not in model_labels[1:]]
    if missing:
        raise SsdEdgeError("expected every dataset class among the labels of %s (%s), got %s "
                           "missing; evaluate a subset with --classes or give the model's "
                           "labels with --labels" % (os.path.basename(model_path),
                                                     ", ".join(model_labels[1:]),
                                                     ", ".join(missing)))


def run_info(det, a):
    """The run's settings, merged into the JSON document (docs/evaluation.md)."""
    return {"model": os.path.abspath(det.path), "backend": str(det.backend_name),
            "precision": str(det.precision), "arch": det.spec.arch,
            "input_size": list(det.spec.input_size), "labels": list(det.spec.labels),
            "split": a.split, "conf_threshold": a.conf, "nms_iou_threshold": a.iou,
            "max_detections": a.max_detections, "limit": a.limit}


@cli_entry("ssd-eval")
def main(argv=None):
    a = check_numeric_args(build_parser().parse_args(argv))
    check_args(a)
    logging.basicConfig(level=logging.WARNING, format="ssd-eval: %(message)s")
    from ..data import load_dataset
    from ..eval import evaluate_detector, format_table, write_results
    from ..runtime import Detector
    model = a.model
    if model is None:
        from ..runtime.assets import require_bundled_model
        model = require_bundled_model("pass a model: ssd-eval MODEL --dataset DIR")
    dataset = load_dataset(a.dataset, a.dataset_type, a.split, a.classes)
    with Detector.load(model, backend=a.backend, conf_threshold=a.conf, iou_threshold=a.iou,
                       top_k=-1, max_detections=a.max_detections, labels=a.labels,
                       net=a.net, threads=threads_arg(a.threads)) as det:
        check_classes(det.spec.labels, dataset.class_names, det.path)
        if not a.quiet:
            print("evaluating %s (%s, %s) on %d images of %s" % (
                det.path, det.backend_name, det.precision,
                len(dataset) if a.limit is None else min(a.limit, len(dataset)), dataset.root),
                file=sys.stderr, flush=True)
        result = evaluate_detector(det, dataset, a.metric, progress=not a.quiet, limit=a.limit)
        extra = run_info(det, a)
    print(format_table(result))
    if a.json:
        write_results(result, a.json, a.plot, extra=extra)
        print("results: %s" % a.json, file=sys.stderr)
    elif a.plot:
        from ..eval import plot_pr_curves
        plot_pr_curves(result, a.plot)
    if a.plot:
        print("precision-recall plot: %s" % a.plot, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
