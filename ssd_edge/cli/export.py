"""ssd-export: checkpoint (or exported ONNX) → ONNX, FP16, INT8, NMS variants, .ort, engines."""
import argparse
import logging
import os
import sys

from ..errors import SsdEdgeError
from ..fileio import make_parent
from .common import NMS as _NMS, add_threads_flag, cli_entry, threads_arg
from .export_triton import add_triton_flags
from .ranges import check_numeric_args

EPILOG = """artifacts (beside the checkpoint unless --output/--output-dir):
  model.onnx                FP32, input_0 -> scores, boxes (always written: the others derive from it)
  model.fp16.onnx           --fp16: FP16 weights/compute, FP32 I/O, softmax/decoding in FP32
  model.int8.onnx           --int8 --calib DIR: QDQ INT8 (symmetric, per-channel), TensorRT-ready
  model[.prec].nms-onnx.onnx / .nms-trt.onnx   --nms onnx|trt: four NMS outputs
  model.ort, model.int8.ort --mobile: ONNX Runtime mobile format
  model[.fp16|.int8].tflite --tflite: LiteRT (spec inside); FP16 weights / full-integer INT8
  model[.fp16].ncnn.param/.bin/.json  --ncnn: ncnn through pnnx (spec in the .json sidecar)
  model[.fp16].mlpackage    --coreml: Core ML (checked here, run on Apple systems)
  model.<prec>.engine (+ .engine.json sidecar)  --engine: TensorRT plan, built on the target
  DIR/NAME, NAME_pipeline, ...  --triton DIR: a Triton Inference Server model repository

examples:
  ssd-export mb1-ssd.pth --labels labels.txt --fp16
  ssd-export mb1-ssd.pth --int8 --calib images/ --nms onnx
  ssd-export model.onnx --fp16 --engine          # on the Jetson
  ssd-export mb2-ssd-lite.pth --tflite --ncnn --fp16 --int8 --calib images/   # phones, boards
  ssd-export --inspect model.int8.onnx --json
  ssd-export mb1-ssd.pth --triton models/ --triton-backend python"""


def build_parser():
    p = argparse.ArgumentParser(prog="ssd-export", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Export a pytorch-ssd checkpoint (or an exported ONNX) "
                                "to ONNX, FP16, INT8 and TensorRT, checking each against PyTorch.")
    p.add_argument("model", nargs="?", help="checkpoint .pth or exported .onnx (default: the "
                   "bundled shapes model, exported into the current folder)")
    p.add_argument("--labels", help="labels.txt (BACKGROUND first), as pytorch-ssd writes it")
    p.add_argument("--net", help="architecture when it cannot be read from the file (e.g. mb1-ssd)")
    p.add_argument("--mean", help="an ONNX without ssd-edge metadata: per-channel mean on "
                   "0..255 RGB, e.g. 127,127,127 (with --std; instead of --net)")
    p.add_argument("--std", help="an ONNX without ssd-edge metadata: per-channel std, e.g. 128")
    p.add_argument("--resolution", help="input size N or WxH: N means NxN, and N x 3N/4 for the "
                   "UltraFace nets (320 -> 320x240); default: the checkpoint sidecar's, else the "
                   "net's own (300; UltraFace 320x240)")
    p.add_argument("--activation", choices=["relu6", "relu"],
                   help="mb2-ssd-lite backbone activation (default relu6, as the published weights)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--output", help="path of the FP32 ONNX; the others are named after it "
                     "(its folder is created when missing)")
    out.add_argument("--output-dir", help="folder for all artifacts, created when missing "
                     "(default: beside the model; the current folder for the bundled model)")
    p.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13: TensorRT 8.2+)")
    b = p.add_mutually_exclusive_group()
    b.add_argument("--batch", type=int, default=1, help="static batch size (default 1)")
    b.add_argument("--dynamic-batch", action="store_true", help="symbolic batch axis")
    p.add_argument("--max-batch", type=int, default=8, help="engine profile max batch and Triton max_batch_size (default 8)")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    p.add_argument("--nms", choices=["none", "onnx", "trt"], default="none",
                   help="NMS in the graph: onnx ops (ORT and TensorRT>=8.5) or EfficientNMS_TRT")
    p.add_argument("--conf", type=float, default=0.01, help="in-graph NMS score threshold")
    p.add_argument("--iou", type=float, default=_NMS.iou_threshold,
                   help="in-graph NMS IoU threshold")
    p.add_argument("--max-detections", type=int, default=200, help="in-graph NMS output size")
    p.add_argument("--class-agnostic", action="store_true",
                   help="--nms trt: one NMS across classes (TensorRT >= 8.6)")
    p.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx")
    p.add_argument("--int8", action="store_true", help="also write model.int8.onnx (needs --calib)")
    p.add_argument("--calib", help="folder of calibration images (the camera's kind of scenes)")
    p.add_argument("--calib-count", type=int, default=300, help="images used (default 300)")
    p.add_argument("--check-images", metavar="DIR",
                   help="photos the parity checks run on (default: the first --calib images, "
                   "else generated scenes); pick ones the model detects something in")
    p.add_argument("--calib-method", choices=["minmax", "entropy", "percentile"], default="minmax")
    p.add_argument("--engine", action="store_true", help="build TensorRT engines (needs TensorRT)")
    p.add_argument("--workspace", type=int, help="TensorRT workspace MiB (default: from memory)")
    p.add_argument("--dla", type=int, help="DLA core (Jetson Xavier/Orin), GPU fallback on")
    p.add_argument("--timing-cache", help="TensorRT timing cache file (reused across builds)")
    p.add_argument("--mobile", action="store_true", help="also write ONNX Runtime .ort files")
    p.add_argument("--tflite", action="store_true",
                   help="also write LiteRT .tflite files (from a .pth; ssd-edge[mobile])")
    p.add_argument("--ncnn", action="store_true",
                   help="also write ncnn .ncnn.param/.bin through pnnx (from a .pth)")
    p.add_argument("--coreml", action="store_true",
                   help="also write a Core ML .mlpackage (from a .pth)")
    p.add_argument("--deepstream", action="store_true",
                   help="also write a DeepStream nvinfer config and custom parser")
    add_triton_flags(p)
    p.add_argument("--no-check", action="store_true", help="skip the parity checks")
    p.add_argument("--inspect", metavar="ARTIFACT", help="print what an artifact holds and exit")
    p.add_argument("--json", action="store_true", help="with --inspect: JSON output")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    add_threads_flag(p)
    return p


def options_from_args(a):
    from ..export.options import ExportOptions
    return ExportOptions(
        opset=a.opset, batch=a.batch,
        dynamic_batch=a.dynamic_batch, max_batch=a.max_batch, simplify=not a.no_simplify,
        nms=a.nms, conf_threshold=a.conf, iou_threshold=a.iou, max_detections=a.max_detections,
        class_agnostic=a.class_agnostic, fp16=a.fp16, int8=a.int8, calib_dir=a.calib,
        calib_count=a.calib_count, calib_method=a.calib_method, engine=a.engine,
        workspace_mib=a.workspace, dla_core=a.dla, timing_cache=a.timing_cache, mobile=a.mobile,
        check=not a.no_check, threads=threads_arg(a.threads), check_images=a.check_images,
        tflite=a.tflite, ncnn=a.ncnn, coreml=a.coreml)


def output_stem(model_path, a):
    """Path prefix for every artifact, checked writable before any work starts."""
    if a.output:
        stem = a.output[:-5] if a.output.endswith(".onnx") else a.output
    else:
        base = os.path.splitext(os.path.basename(model_path))[0]
        folder = a.output_dir or os.path.dirname(os.path.abspath(model_path))
        stem = os.path.join(folder, base)
    folder = make_parent(stem)
    if not os.access(folder, os.W_OK):
        raise SsdEdgeError("output folder %s is not writable; pick another with --output-dir" % folder)
    from ..fileio import clean_stale
    for name in clean_stale(folder):     # what a killed export left behind
        logging.getLogger("ssd_edge").info("removed %s, left by an interrupted run", name)
    return stem


def load_source(a):
    from ..export.pipeline import Source
    from ..runtime.registry import resolve_model
    path, named = resolve_model(a.model)
    if named is not None and not a.output and not a.output_dir:
        a.output_dir = os.getcwd()          # artifacts of a named model never go to the cache
    if not os.path.exists(path):
        raise SsdEdgeError("model file %s does not exist" % path)
    if path.endswith(".onnx"):
        # The FP32 artifact is the given ONNX, copied beside the others when they go elsewhere;
        # a foreign ONNX (e.g. from pytorch-ssd's own exporter) gets the spec in its metadata.
        from ..export.metadata import get_spec, load_onnx, save_onnx, set_spec
        from ..export.source import (drop_initializer_inputs, raise_opset, rename_input,
                                     spec_for_onnx)
        from .live import parse_triple
        stem = output_stem(path, a)
        mean = parse_triple(a.mean, "--mean") if a.mean else None
        std = parse_triple(a.std, "--std") if a.std else None
        spec = spec_for_onnx(path, labels=a.labels, net=a.net, mean=mean, std=std)
        model = load_onnx(path)
        target = stem + ".onnx"
        foreign = get_spec(model) is None
        if foreign:
            # The copy follows docs/architecture.md §3: input_0, and an opset FP16/INT8 conversion takes.
            model = drop_initializer_inputs(rename_input(model))
            if a.fp16 or a.int8:
                model = raise_opset(model, a.opset)
        if os.path.abspath(target) == os.path.abspath(path) and foreign:
            target = stem + ".ssd-edge.onnx"          # never overwrite the user's original
        if get_spec(model) != spec or os.path.abspath(target) != os.path.abspath(path):
            save_onnx(set_spec(model, spec), target)
        return Source(spec=spec, stem=os.path.splitext(target)[0], onnx_path=target,
                      original=path if foreign else None)
    from ..models import load_checkpoint
    if threads_arg(a.threads):
        import torch
        torch.set_num_threads(a.threads)     # the export's trace and the PyTorch parity reference
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
        from ..runtime.assets import require_bundled_model
        a.model = require_bundled_model("pass a model: ssd-export MODEL.pth|.onnx ...",
                                        checkpoint=True)
        if not a.output and not a.output_dir:
            a.output_dir = os.getcwd()
    from ..export.mobile_targets import refuse_onnx, require_packages
    mobile = [f for f, on in (("--tflite", a.tflite), ("--ncnn", a.ncnn), ("--coreml", a.coreml))
              if on]
    refuse_onnx(a.model, mobile)
    require_packages(mobile)
    from ..export.pipeline import run_export, summary_lines
    if a.triton:
        from .export_triton import triton_options
        triton_options(a)          # a bad --triton-* value fails before any work is done
        if not a.batch > 1 and not a.model.lower().endswith(".onnx"):
            a.dynamic_batch = True     # Triton batches requests: the network needs a batch axis
    source = load_source(a)
    options = options_from_args(a)
    echo = (lambda *_: None) if a.quiet else (lambda s: print(s, flush=True))
    echo("exporting %s (%s, %d classes, %dx%d WxH)" % (a.model, source.spec.arch,
                                                      source.spec.num_classes,
                                                      *source.spec.frame_size))
    from ..runtime.backends.trt import run_engine
    from ..runtime.mobile_outputs import RUNNERS
    arts = run_export(source, options, echo, run_engine=run_engine, run_file=RUNNERS)
    if a.triton:
        from .export_triton import write_triton
        for line in write_triton(a, arts):
            echo(line)
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
