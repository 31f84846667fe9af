"""ssd-export's stages: each writes one kind of artifact and yields it, unchecked.

:func:`prepare` reads what every stage shares (calibration images, parity inputs, the parity
reference); :data:`STAGES` is the order the files are written in. The stages never compare
numbers: :func:`ssd_edge.export.verify.verify` checks each file the moment it is yielded, so a
failed FP32 check still stops the export before the next file.
"""
import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ..contract import PRECISIONS, export_command, nms_variant, read_sidecar
from ..errors import SsdEdgeError
from . import parity as par
from .pipeline import Source, WrittenFile, artifact_path


@dataclass
class Run:
    """One export in progress: what the stages read and the parity pass compares with."""

    source: Source
    options: Any                       # ExportOptions
    echo: Callable[[str], None]
    calib: Any                         # (N, 3, H, W) float32 calibration images, or None
    inputs: Any                        # (N, 3, H, W) float32 parity inputs
    ref: Optional[Tuple[Any, Any]]     # reference (scores (N, P, C), boxes (N, P, 4)) or None
    ref_name: str
    precision: str                     # of the ONNX the export starts from ("fp32": a .pth)
    #: {"engine" | "tflite" | "ncnn": fn(path, inputs) -> {output name: stacked array}}
    runners: Dict[str, Callable] = field(default_factory=dict)
    #: precision → (path, onnx.ModelProto) of the ONNX files written so far, without NMS
    models: Dict[str, Tuple[str, Any]] = field(default_factory=dict)

    @property
    def spec(self):
        return self.source.spec


def prepare(source, options, echo, runners):
    """The :class:`Run` for ``source``: calibration loaded, parity inputs and reference made."""
    from .calib import CALIB_REQUIRED, check_inputs, load_calibration
    spec = source.spec
    if source.model is None:
        from .mobile_targets import asked, refuse_onnx
        refuse_onnx(source.onnx_path, asked(options))
    prec0 = _given_precision(source, options)
    calib = None
    if options.int8 and prec0 == "fp32":
        if not options.calib_dir:
            raise SsdEdgeError(CALIB_REQUIRED)
        calib = load_calibration(options.calib_dir, spec, options.calib_count, options.seed)
        echo("calibration: %d images from %s" % (len(calib), options.calib_dir))
    if options.check_images:
        # Real photos with real detections, so agreement is measured on something.
        inputs = load_calibration(options.check_images, spec, options.check_inputs, options.seed)
    else:
        inputs = check_inputs(spec, calib, options.check_inputs, options.seed)
    ref, ref_name = None, "PyTorch"
    if options.check and source.model is not None:
        ref = par.torch_outputs(source.model, inputs)
    elif options.check and spec.output_layout != "nms":
        # The given graph in ONNX Runtime is the reference (not for NMS graphs: ORT cannot run
        # EfficientNMS_TRT, and the NMS outputs are not raw scores and boxes).
        outs = par.ort_outputs(source.original or source.onnx_path, inputs, options.threads)
        ref, ref_name = (outs["scores"], outs["boxes"]), "the given %s ONNX in ONNX Runtime" % prec0
    return Run(source, options, echo, calib, inputs, ref, ref_name, prec0,
               {k: v for k, v in runners.items() if v is not None})


def base_onnx(run: Run) -> Iterator[WrittenFile]:
    """The FP32 ONNX from the checkpoint, or the given ONNX (a described copy of a foreign one)."""
    from .metadata import load_onnx
    from .onnx_export import export_onnx
    from .report import format_report, operator_report
    source, spec, prec0 = run.source, run.spec, run.precision
    if source.model is not None:
        path = artifact_path(source.stem)
        model, notes = export_onnx(source.model, spec, path, run.options)
        reference = False
    else:
        path, notes = source.onnx_path, ["starting from an exported ONNX: parity is against it"]
        if prec0 != "fp32" or spec.output_layout == "nms":
            notes = ["an exported %s ONNX%s: only its engine is built from it"
                     % (prec0, " with NMS inside" if spec.output_layout == "nms" else "")]
        if source.original:
            notes = ["a copy of %s describing itself (spec embedded, input %s)"
                     % (os.path.basename(source.original), "input_0")]
        model = load_onnx(path)
        reference = not source.original       # the file the reference outputs came from
    run.models[prec0] = (path, model)
    yield WrittenFile(path, "onnx", prec0, nms=nms_variant(n.op_type for n in model.graph.node),
                      notes=notes, reference=reference)
    for line in format_report(operator_report(model)):
        run.echo("  " + line)


def fp16_onnx(run: Run) -> Iterator[WrittenFile]:
    """``model.fp16.onnx`` with ``--fp16``."""
    if not (run.options.fp16 and run.precision == "fp32"):
        return
    from .fp16 import to_fp16
    from .metadata import save_onnx
    path = artifact_path(run.source.stem, "fp16")
    half = to_fp16(copy.deepcopy(run.models["fp32"][1]))    # converts in place: its own copy
    save_onnx(half, path)
    run.models["fp16"] = (path, half)
    yield WrittenFile(path, "onnx", "fp16")


def int8_onnx(run: Run) -> Iterator[WrittenFile]:
    """``model.int8.onnx`` with ``--int8``, calibrated on ``--calib``."""
    if not (run.options.int8 and run.precision == "fp32"):
        return
    from .int8 import to_int8
    from .metadata import save_onnx
    path = artifact_path(run.source.stem, "int8")
    quant = to_int8(run.models["fp32"][1], run.calib, run.options.calib_method)
    save_onnx(quant, path)
    run.models["int8"] = (path, quant)
    yield WrittenFile(path, "onnx", "int8")


def nms_onnx(run: Run) -> Iterator[WrittenFile]:
    """With ``--nms onnx|trt``: each precision's ONNX again with NMS inside."""
    options = run.options
    if options.nms == "none":
        return
    from .metadata import save_onnx
    from .nms_graph import add_onnx_nms, add_trt_nms
    for prec, (_, proto) in list(run.models.items()):
        m = copy.deepcopy(proto)
        path = artifact_path(run.source.stem, prec, options.nms)
        if options.nms == "onnx":
            add_onnx_nms(m, run.spec.num_priors or _graph_priors(m), run.spec.num_classes,
                         options.conf_threshold, options.iou_threshold, options.candidate_size,
                         -1, options.max_detections)
        else:
            add_trt_nms(m, options.conf_threshold, options.iou_threshold, options.max_detections,
                        options.class_agnostic if options.class_agnostic else None)
        save_onnx(m, path)
        yield WrittenFile(path, "onnx", prec, nms=options.nms)


def ort_format(run: Run) -> Iterator[WrittenFile]:
    """With ``--mobile``: ONNX Runtime's ``.ort`` of the FP32 and INT8 graphs."""
    if not run.options.mobile:
        return
    from .mobile import to_ort_format
    for prec in ("fp32", "int8"):
        if prec in run.models:
            path = to_ort_format(run.models[prec][0], artifact_path(run.source.stem, prec,
                                                                    ext="ort"))
            yield WrittenFile(path, "ort", prec)


def phone_formats(run: Run) -> Iterator[WrittenFile]:
    """With ``--tflite`` / ``--ncnn`` / ``--coreml``: converted from the PyTorch model."""
    options = run.options
    if options.tflite or options.ncnn or options.coreml:
        from .mobile_targets import mobile_artifacts
        for art in mobile_artifacts(run.source, run.spec, run.calib, options, run.echo):
            yield art


def engines(run: Run) -> Iterator[WrittenFile]:
    """TensorRT engines where TensorRT is present; otherwise the command to run on the target."""
    options, models = run.options, run.models
    wanted = [p for p in PRECISIONS if p in models and (p != "fp32" or len(models) == 1)]
    try:
        from .tensorrt import tensorrt_available
    except ImportError:
        tensorrt_available = None
    if tensorrt_available is None or not tensorrt_available():
        cmds = [_engine_command(_engine_onnx(run, p), options) for p in wanted]
        if options.engine:
            raise SsdEdgeError("--engine needs TensorRT and a GPU, and this machine has neither; "
                               "the ONNX files are written — on the target run: " + "; ".join(cmds))
        if options.fp16 or options.int8:
            run.echo("TensorRT is not installed here; on the target build the engine with:")
            for c in cmds:
                run.echo("  " + c)
        return
    if not options.engine:
        return
    from .tensorrt import engine_from_export
    for prec in wanted:
        for path in engine_from_export(_engine_onnx(run, prec), prec, run.spec, options,
                                       run.echo):
            side = read_sidecar(path) or {}    # what the engine really holds
            yield WrittenFile(path, "engine", side.get("precision", prec),
                              nms=side.get("nms", options.nms))


#: The order files are written in; each stage decides from the options whether it has work.
STAGES = (base_onnx, fp16_onnx, int8_onnx, nms_onnx, ort_format, phone_formats, engines)


def _graph_priors(model):
    """P of the graph's ``scores [B, P, C]`` output (a foreign model's spec has no priors)."""
    for out in model.graph.output:
        if out.name == "scores":
            dims = out.type.tensor_type.shape.dim
            if len(dims) == 3 and dims[1].dim_value > 0:
                return int(dims[1].dim_value)
    raise SsdEdgeError("expected a 'scores' output [B, P, C] with a fixed P to put NMS in the "
                       "graph, got none")


def _given_precision(source, options):
    """Precision of the ONNX the export starts from ("fp32" for a checkpoint).

    An exported FP16 / INT8 ONNX or one with NMS inside is an end product: its engine is built
    as it is (``--fp16`` on an FP16 one is accepted and changes nothing); converting it again is
    refused, since the conversions start from the FP32 graph.
    """
    spec = source.spec
    if source.model is None and (spec.precision != "fp32" or spec.output_layout == "nms"):
        asked = [flag for flag, on in (
            ("--fp16", options.fp16 and spec.precision != "fp16"),
            ("--int8", options.int8 and spec.precision != "int8"),
            ("--nms", options.nms != "none"), ("--mobile", options.mobile)) if on]
        if asked:
            raise SsdEdgeError(
                "expected the FP32 ONNX without NMS (model.onnx) for %s, got %s (precision %s, "
                "outputs %s); pass model.onnx, or build this file's engine as it is with: "
                "%s" % (" ".join(asked), source.onnx_path, spec.precision, spec.output_layout,
                      export_command(os.path.basename(source.onnx_path))))
        return spec.precision
    return "fp32"


def _engine_onnx(run, prec):
    """The ONNX an engine is built from: with ``--nms`` the variant with NMS inside."""
    if run.options.nms == "none":
        return run.models[prec][0]
    return artifact_path(run.source.stem, prec, run.options.nms)


def _engine_command(onnx, options):
    """The target's command for ``onnx`` (already in its precision: no --fp16/--int8 again)."""
    return export_command(onnx, max_batch=options.max_batch if options.dynamic_batch else None,
                          extra=[("--dla", options.dla_core),
                                 ("--workspace", options.workspace_mib or None)])
