"""ssd-bench: latency per stage, throughput, memory and mAP of models on every backend present.

    ssd-bench model.onnx model.int8.onnx model.pth --batch 1,8 --json out.json --markdown out.md
"""
import argparse
import importlib.util
import os
import shlex
import sys

from ..errors import SsdEdgeError, missing_extra
from ..fileio import make_parent
from .common import BACKEND_CHOICES, NMS as _NMS, cli_entry
from .ranges import check_numeric_args

EPILOG = """per (artifact, backend, batch): preprocess / inference / postprocess / end-to-end
latency (p50, p90, p99, outlier-trimmed mean), images/s, peak RSS, torch's CUDA peak, file size,
and with --data the mAP. Backends whose package is missing are listed as skipped with the pip
extra to install. The pytorch-ssd peer (pytorch-ssd's Predictor, transcribed) runs .pth files.

examples:
  ssd-bench mb1-ssd.onnx mb1-ssd.int8.onnx --backend ort,openvino
  ssd-bench mb1-ssd.pth --backend torch,pytorch-ssd --device cuda --batch 1,32 --host-nms
  ssd-bench model.onnx --data VOCdevkit/VOC2007 --json out.json --markdown out.md --plot out.png"""


def build_parser():
    p = argparse.ArgumentParser(prog="ssd-bench", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help=".onnx / .ort / .engine / .pth files (default: the bundled model)")
    p.add_argument("--backend", help="comma-separated: " + ", ".join(BACKEND_CHOICES[1:]) + ", "
                   "pytorch-ssd (default: every one that runs each file)")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--iterations", type=int, default=100, help="timed calls per case (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="stop timing a case after this many seconds (at least 5 calls; 0 = no limit)")
    p.add_argument("--threads", type=int, help="CPU threads per backend (default: its own)")
    p.add_argument("--device", help="backend device, e.g. cpu, cuda, cuda:1 (default: best)")
    p.add_argument("--frame-size", default="640x480", help="WxH of the synthetic frames")
    p.add_argument("--conf", type=float, default=_NMS.conf_threshold,
                   help="score threshold while timing")
    p.add_argument("--iou", type=float, default=_NMS.iou_threshold, help="NMS IoU threshold")
    p.add_argument("--host-nms", action="store_true",
                   help="also time GPU-owning backends (torch on CUDA) with NMS on the CPU")
    p.add_argument("--torch-precision", help="fp16,fp32: precisions to ask the torch backend for")
    p.add_argument("--data", metavar="DIR", help="dataset (VOC / Open Images / COCO) for mAP")
    p.add_argument("--split", help="dataset split (default: the layout's evaluation split)")
    p.add_argument("--metric", choices=["voc07", "voc12", "coco"], default="voc07")
    p.add_argument("--map-threshold", type=float, default=0.01,
                   help="score threshold for mAP (default 0.01, as pytorch-ssd's eval)")
    p.add_argument("--label", help="device name in tables (default: GPU name, else CPU model)")
    p.add_argument("--json", metavar="FILE", help="write the result document")
    p.add_argument("--markdown", metavar="FILE", help="write the Markdown table")
    p.add_argument("--plot", metavar="FILE", help="write PNG charts")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    return p


def _frame_size(text):
    parts = str(text).lower().split("x")
    try:
        w, h = (int(v) for v in parts)
    except ValueError:
        w = h = 0
    if len(parts) != 2 or w < 8 or h < 8:
        raise SsdEdgeError("expected --frame-size as WxH such as 640x480, got %r" % text)
    return (w, h)


def _positive(name, value, minimum=1):
    if value is not None and value < minimum:
        raise SsdEdgeError("expected %s >= %d, got %s" % (name, minimum, value))


def options_from_args(a):
    """Validate the flags and map them onto :class:`ssd_edge.bench.BenchOptions`."""
    from ..bench.cases import BenchOptions, parse_backends, parse_int_list
    _positive("--iterations", a.iterations)
    _positive("--warmup", a.warmup, 0)
    _positive("--threads", a.threads)
    if a.max_seconds < 0:
        raise SsdEdgeError("expected --max-seconds >= 0, got %s" % a.max_seconds)
    precisions = ()
    if a.torch_precision:
        precisions = tuple(v.strip() for v in a.torch_precision.split(",") if v.strip())
        if not precisions or set(precisions) - {"fp16", "fp32"}:
            raise SsdEdgeError("expected --torch-precision as fp16 and/or fp32, got %r"
                               % a.torch_precision)
    return BenchOptions(
        backends=parse_backends(a.backend) if a.backend else (),
        batches=parse_int_list(a.batch), iterations=a.iterations, warmup=a.warmup,
        max_seconds=a.max_seconds, min_iterations=min(5, a.iterations), threads=a.threads,
        device=a.device, frame_size=_frame_size(a.frame_size), conf_threshold=a.conf,
        iou_threshold=a.iou, host_nms=a.host_nms, torch_precision=precisions, data=a.data,
        split=a.split, metric=a.metric, map_threshold=a.map_threshold,
        progress=not a.no_progress and not a.quiet)


def _models(paths):
    from ..bench.cases import check_model_path
    if not paths:
        from ..runtime import assets
        bundled = assets.bundled_model()
        if bundled is None:
            raise SsdEdgeError("no model given and no bundled model in this installation; pass "
                               "MODEL files (.onnx, .ort, .engine or .pth)")
        paths = [bundled]
    for path in paths:
        check_model_path(path)
    return list(paths)


def _check_outputs(a):
    for path in (a.json, a.markdown, a.plot):
        if path:
            make_parent(path)
    if a.plot and importlib.util.find_spec("matplotlib") is None:
        raise missing_extra("matplotlib", "bench")
    if a.data and not os.path.exists(a.data):
        raise SsdEdgeError("expected a dataset at --data %s, got nothing there" % a.data)


@cli_entry("ssd-bench")
def main(argv=None):
    a = check_numeric_args(build_parser().parse_args(argv))
    options = options_from_args(a)
    models = _models(a.models)
    _check_outputs(a)
    from ..bench.report import case_line, markdown, write_json, write_markdown
    from ..bench.runner import run_bench
    echo = None if a.quiet else (lambda row: print(case_line(row), flush=True))
    command = "ssd-bench " + " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None
                                                               else argv))
    doc = run_bench(models, options, command=command, label=a.label, echo=echo)
    print(markdown([doc]), end="")
    if a.json:
        write_json(a.json, doc)
    if a.markdown:
        write_markdown(a.markdown, [doc])
    if a.plot:
        from ..bench.plot import plot_results
        plot_results([doc], a.plot)
    for path in (a.json, a.markdown, a.plot):
        if path:
            print("wrote %s" % path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
