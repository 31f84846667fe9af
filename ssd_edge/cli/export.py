"""ssd-export: checkpoint (or exported ONNX) → ONNX, FP16, INT8, NMS variants, .ort, engines."""
import argparse
import logging
import os
import sys

from ..errors import SsdEdgeError
from .common import cli_entry
from .ranges import check_numeric_args

EPILOG = """artifacts (beside the checkpoint unless --output/--output-dir):
  model.onnx                FP32, input_0 -> scores, boxes (always written: the others derive from it)
  model.fp16.onnx           --fp16: FP16 weights/compute, FP32 I/O, softmax/decoding in FP32
  model.int8.onnx           --int8 --calib DIR: QDQ INT8 (symmetric, per-channel), TensorRT-ready
  model[.prec].nms-onnx.onnx / .nms-trt.onnx   --nms onnx|trt: four NMS outputs
  model.ort, model.int8.ort --mobile: ONNX Runtime mobile format
  model.<prec>.engine (+ .engine.json sidecar)  --engine: TensorRT plan, built on the target

examples:
  ssd-export mb1-ssd.pth --labels labels.txt --fp16
  ssd-export mb1-ssd.pth --int8 --calib images/ --nms onnx
  ssd-export model.onnx --fp16 --engine          # on the Jetson
  ssd-export --inspect model.int8.onnx --json"""


def build_parser():
    p = argparse.ArgumentParser(prog="ssd-export", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Export a pytorch-ssd checkpoint (or an exported ONNX) "
                                "to ONNX, FP16, INT8 and TensorRT, checking each against PyTorch.")
    p.add_argument("model", nargs="?", help="checkpoint .pth or exported .onnx (default: the "
                   "bundled shapes model, exported into the current folder)")
    p.add_argument("--labels", help="labels.txt (BACKGROUND first), as pytorch-ssd writes it")
    p.add_argument("--net", help="architecture when it cannot be read from the file (e.g. mb1-ssd)")
    p.add_argument("--resolution", type=int, help="square input size (default: the checkpoint sidecar's, else 300)")
    p.add_argument("--activation", choices=["relu6", "relu"],
                   help="mb2-ssd-lite backbone activation (default relu6, as the published weights)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--output", help="path of the FP32 ONNX; the others are named after it")
    out.add_argument("--output-dir", help="folder for all artifacts")
    p.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13: TensorRT 8.2+)")
    b = p.add_mutually_exclusive_group()
    b.add_argument("--batch", type=int, default=1, help="static batch size (default 1)")
    b.add_argument("--dynamic-batch", action="store_true", help="symbolic batch axis")
    p.add_argument("--max-batch", type=int, default=8, help="engine profile max batch (default 8)")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    p.add_argument("--nms", choices=["none", "onnx", "trt"], default="none",
                   help="NMS in the graph: onnx ops (ORT and TensorRT>=8.5) or EfficientNMS_TRT")
    p.add_argument("--conf", type=float, default=0.01, help="in-graph NMS score threshold")
    p.add_argument("--iou", type=float, default=0.45, help="in-graph NMS IoU threshold")
    p.add_argument("--max-detections", type=int, default=200, help="in-graph NMS output size")
    p.add_argument("--class-agnostic", action="store_true",
                   help="--nms trt: one NMS across classes (TensorRT >= 8.6)")
    p.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx")
    p.add_argument("--int8", action="store_true", help="also write model.int8.onnx (needs --calib)")
    p.add_argument("--calib", help="folder of calibration images (the camera's kind of scenes)")
    p.add_argument("--calib-count", type=int, default=300, help="images used (default 300)")
    p.add_argument("--calib-method", choices=["minmax", "entropy", "percentile"], default="minmax")
    p.add_argument("--engine", action="store_true", help="build TensorRT engines (needs TensorRT)")
    p.add_argument("--workspace", type=int, help="TensorRT workspace MiB (default: from memory)")
    p.add_argument("--dla", type=int, help="DLA core (Jetson Xavier/Orin), GPU fallback on")
    p.add_argument("--timing-cache", help="TensorRT timing cache file (reused across builds)")
    p.add_argument("--mobile", action="store_true", help="also write ONNX Runtime .ort files")
    p.add_argument("--deepstream", action="store_true",
                   help="also write a DeepStream nvinfer config and custom parser")
    p.add_argument("--no-check", action="store_true", help="skip the parity checks")
    p.add_argument("--inspect", metavar="ARTIFACT", help="print what an artifact holds and exit")
    p.add_argument("--json", action="store_true", help="with --inspect: JSON output")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    return p


def options_from_args(a, output=None):
    from ..export.options import ExportOptions
    return ExportOptions(
        output=output, output_dir=a.output_dir, opset=a.opset, batch=a.batch,
        dynamic_batch=a.dynamic_batch, max_batch=a.max_batch, simplify=not a.no_simplify,
        nms=a.nms, conf_threshold=a.conf, iou_threshold=a.iou, max_detections=a.max_detections,
        class_agnostic=a.class_agnostic, fp16=a.fp16, int8=a.int8, calib_dir=a.calib,
        calib_count=a.calib_count, calib_method=a.calib_method, engine=a.engine,
        workspace_mib=a.workspace, dla_core=a.dla, timing_cache=a.timing_cache, mobile=a.mobile,
        check=not a.no_check)


def output_stem(model_path, a):
    """Path prefix for every artifact, checked writable before any work starts."""
    if a.output:
        stem = a.output[:-5] if a.output.endswith(".onnx") else a.output
    else:
        base = os.path.splitext(os.path.basename(model_path))[0]
        folder = a.output_dir or os.path.dirname(os.path.abspath(model_path))
        stem = os.path.join(folder, base)
    folder = os.path.dirname(os.path.abspath(stem))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise SsdEdgeError("expected an output folder, got the file %s; pick a folder" % folder)
    if not os.path.isdir(folder):
        raise SsdEdgeError("output folder %s does not exist; create it or pick another" % folder)
    if not os.access(folder, os.W_OK):
        raise SsdEdgeError("output folder %s is not writable; pick another with --output-dir" % folder)
    from ..fileio import clean_stale
    for name in clean_stale(folder):     # what a killed export left behind
        logging.getLogger("ssd_edge").info("removed %s, left by an interrupted run", name)
    return stem


def load_source(a):
    from ..export.pipeline import Source
    path = a.model
    if not os.path.exists(path):
        raise SsdEdgeError("model file %s does not exist" % path)
    if path.endswith(".onnx"):
        # The FP32 artifact is the given ONNX, copied beside the others when they go elsewhere;
        # a foreign ONNX (e.g. from pytorch-ssd's own exporter) gets the spec in its metadata.
        from ..export.metadata import get_spec, load_onnx, save_onnx, set_spec
        from ..export.source import spec_for_onnx
        stem = output_stem(path, a)
        spec = spec_for_onnx(path, labels=a.labels, net=a.net)
        model = load_onnx(path)
        target = stem + ".onnx"
        if get_spec(model) != spec or os.path.abspath(target) != os.path.abspath(path):
            save_onnx(set_spec(model, spec), target)
        return Source(spec=spec, stem=stem, onnx_path=target)
    from ..models import load_checkpoint
    model, spec = load_checkpoint(path, labels=a.labels, net=a.net, resolution=a.resolution,
                                  activation=a.activation)
    return Source(spec=spec, stem=output_stem(path, a), model=model)


@cli_entry("ssd-export")
def main(argv=None):
    a = check_numeric_args(build_parser().parse_args(argv))
    logging.basicConfig(level=logging.WARNING, format="ssd-export: %(message)s")
    if a.inspect:
        from ..export.inspect import inspect_artifact, format_inspection
        info = inspect_artifact(a.inspect)
        if a.json:
            import json
            print(json.dumps(info, indent=2, sort_keys=True))
        else:
            print("\n".join(format_inspection(info)))
        return 0
    if not a.model:
        # The bundled model is exported into the current folder, never into the package.
        from ..runtime.stream.api import require_bundled_model
        a.model = require_bundled_model("pass a model: ssd-export MODEL.pth|.onnx ...")
        if not a.output and not a.output_dir:
            a.output_dir = os.getcwd()
    if a.int8 and not a.calib and not a.model.lower().endswith(".onnx"):
        # (an exported model.int8.onnx needs no images; the export says so for an FP32 ONNX)
        raise SsdEdgeError("--int8 needs --calib DIR: a folder of images like the ones the camera "
                           "will see (random calibration is never used)")
    from ..export.pipeline import run_export, summary_lines
    source = load_source(a)
    options = options_from_args(a, output=source.stem + ".onnx")
    echo = (lambda *_: None) if a.quiet else (lambda s: print(s, flush=True))
    echo("exporting %s (%s, %d classes, %dx%d)" % (a.model, source.spec.arch,
                                                  source.spec.num_classes, *source.spec.input_size))
    arts = run_export(source, options, echo)
    if a.deepstream:
        from ..export.deepstream import write_deepstream
        # arts[0] is the FP32 ONNX, or the given one (which may be FP16/INT8, or hold NMS).
        prec = "int8" if a.int8 else "fp16" if a.fp16 else arts[0].precision
        onnx_for_ds = [x for x in arts if x.kind == "onnx" and x.nms == "none"
                       and x.precision == prec] or arts[:1]
        # A folder of its own: the config, labels.txt and Makefile never overwrite the user's.
        ds_dir = source.stem + "_deepstream"
        from ..fileio import disk_errors
        with disk_errors(ds_dir):
            os.makedirs(ds_dir, exist_ok=True)
        written = write_deepstream(onnx_for_ds[0].path, source.spec, ds_dir, precision=prec)
        echo("DeepStream: " + ", ".join(str(w) for w in written))
    print("\n".join(summary_lines(arts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
