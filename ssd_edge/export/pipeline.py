"""ssd-export's orchestration: one step per artifact, a parity check after each, a summary."""
import copy
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from ..contract import PRECISIONS, export_command, nms_variant, read_sidecar
from ..errors import SsdEdgeError
from . import parity as par

log = logging.getLogger("ssd_edge.export")


@dataclass
class WrittenFile:
    """One file written by the export, for the closing summary."""

    path: str
    kind: str                        # onnx | ort | engine | tflite | ncnn | coreml
    precision: str
    nms: str = "none"
    parity: Optional[par.Parity] = None
    notes: List[str] = field(default_factory=list)

    @property
    def size_mb(self):
        """Size on disk: a folder (.mlpackage) summed, an .ncnn.param with its .bin."""
        paths = [self.path] + ([self.path[:-len(".param")] + ".bin"]
                               if self.path.endswith(".ncnn.param") else [])
        if os.path.isdir(self.path):
            paths = [os.path.join(r, f) for r, _, fs in os.walk(self.path) for f in fs]
        return sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) / 1e6


@dataclass
class Source:
    """What the export starts from: a PyTorch model (checkpoint) or an exported FP32 ONNX."""

    spec: object
    stem: str                        # output path without extension
    model: object = None             # torch.nn.Module or None when starting from ONNX
    onnx_path: Optional[str] = None  # given FP32 ONNX when starting from one
    original: Optional[str] = None   # a foreign ONNX that onnx_path is the described copy of


def artifact_path(stem, precision="fp32", nms="none", ext="onnx"):
    """``model.onnx``, ``model.fp16.onnx``, ``model.int8.nms-onnx.onnx``, ``model.int8.ort`` …"""
    parts = [stem]
    if precision != "fp32":
        parts.append(precision)
    if nms != "none":
        parts.append("nms-" + nms)
    return ".".join(parts) + "." + ext


def run_export(source, options, echo=print, run_engine=None, run_file=None):
    """Write every artifact ``options`` asks for from ``source``; return the WrittenFile list.

    ``run_engine(engine_path, inputs (N, 3, H, W) float32) -> {output name: stacked array}``
    runs a built engine for its parity check (the CLI passes the ``trt`` backend's
    :func:`~ssd_edge.runtime.backends.trt.run_engine`; export never imports the runtime).
    Without it an engine is built but not run. ``run_file`` likewise runs a written LiteRT or
    ncnn file (``{kind: fn(path, inputs) -> outputs}``,
    :data:`ssd_edge.runtime.mobile_outputs.RUNNERS`).
    """
    from .calib import CALIB_REQUIRED, check_inputs, load_calibration
    from .metadata import load_onnx, save_onnx
    from .onnx_export import export_onnx
    from .report import format_report, operator_report

    spec = source.spec
    if source.model is None:
        from .mobile_targets import asked, refuse_onnx
        refuse_onnx(source.onnx_path, asked(options))
    prec0 = _given_precision(source, options)
    arts = []
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

    fp32 = artifact_path(source.stem)
    if source.model is not None:
        base, notes = export_onnx(source.model, spec, fp32, options)
        ref = par.torch_outputs(source.model, inputs) if options.check else None
        ref_name = "PyTorch"
    else:
        fp32, notes = source.onnx_path, ["starting from an exported ONNX: parity is against it"]
        if prec0 != "fp32" or spec.output_layout == "nms":
            notes = ["an exported %s ONNX%s: only its engine is built from it"
                     % (prec0, " with NMS inside" if spec.output_layout == "nms" else "")]
        # The given graph in ONNX Runtime is the reference (not for NMS graphs: ORT cannot run
        # EfficientNMS_TRT, and the NMS outputs are not raw scores and boxes).
        ref = (_raw(par.ort_outputs(source.original or fp32, inputs, options.threads))
               if options.check and spec.output_layout != "nms" else None)
        ref_name = "the given %s ONNX in ONNX Runtime" % prec0
        if source.original:
            notes = ["a copy of %s describing itself (spec embedded, input %s)"
                     % (os.path.basename(source.original), "input_0")]
        base = load_onnx(fp32)
    art = WrittenFile(fp32, "onnx", prec0, nms=_nms_in(base), notes=notes)
    if options.check and (source.model is not None or source.original) and ref is not None:
        art.parity = par.compare_raw(spec, ref, _raw(par.ort_outputs(fp32, inputs,
                                                                     options.threads)))
        par.check_fp32(art.parity, fp32)
    arts.append(art)
    for line in format_report(operator_report(base)):
        echo("  " + line)

    models = {prec0: (fp32, base)}
    if options.fp16 and prec0 == "fp32":
        from .fp16 import to_fp16
        path = artifact_path(source.stem, "fp16")
        half = to_fp16(copy.deepcopy(base))    # converts in place: give it its own copy
        save_onnx(half, path)
        models["fp16"] = (path, half)
        arts.append(_checked(WrittenFile(path, "onnx", "fp16"), spec, ref, inputs, options))
    if options.int8 and prec0 == "fp32":
        from .int8 import to_int8
        path = artifact_path(source.stem, "int8")
        quant = to_int8(base, calib, options.calib_method)
        save_onnx(quant, path)
        models["int8"] = (path, quant)
        arts.append(_checked(WrittenFile(path, "onnx", "int8"), spec, ref, inputs, options))
    if options.nms != "none":
        arts += _nms_artifacts(source, spec, models, ref, inputs, options)
    if options.mobile:
        from .mobile import to_ort_format
        for prec in ("fp32", "int8"):
            if prec in models:
                path = to_ort_format(models[prec][0], artifact_path(source.stem, prec, ext="ort"))
                arts.append(_checked(WrittenFile(path, "ort", prec), spec, ref, inputs, options))
    if options.tflite or options.ncnn or options.coreml:
        from .mobile_targets import mobile_artifacts
        arts += mobile_artifacts(source, spec, calib, ref, inputs, options, echo, run_file)
    arts += _engines(source, spec, models, options, echo, ref, inputs, run_engine)
    if ref is not None:
        echo("parity reference: %s on %d inputs" % (ref_name, len(inputs)))
    return arts


def _graph_priors(model):
    """P of the graph's ``scores [B, P, C]`` output (a foreign model's spec has no priors)."""
    for out in model.graph.output:
        if out.name == "scores":
            dims = out.type.tensor_type.shape.dim
            if len(dims) == 3 and dims[1].dim_value > 0:
                return int(dims[1].dim_value)
    raise SsdEdgeError("expected a 'scores' output [B, P, C] with a fixed P to put NMS in the "
                       "graph, got none")


def _raw(outs):
    return outs["scores"], outs["boxes"]


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


def _nms_in(model):
    return nms_variant(n.op_type for n in model.graph.node)


def _checked(art, spec, ref, inputs, options):
    if not options.check or ref is None:
        return art
    art.parity = par.compare_raw(spec, ref, _raw(par.ort_outputs(art.path, inputs, options.threads)))
    par.check_finite(art.parity, art.path)
    if art.precision == "fp32":
        par.check_fp32(art.parity, art.path)
    warning = par.warn_reduced(art.parity, art.precision)
    if warning:
        art.notes.append(warning)
    return art


def _nms_artifacts(source, spec, models, ref, inputs, options):
    from .metadata import save_onnx
    from .nms_graph import add_onnx_nms, add_trt_nms, plugin_attributes
    from .nms_check import check_onnx_nms, check_plugin_attributes
    out = []
    for prec, (_, proto) in models.items():
        m = copy.deepcopy(proto)
        path = artifact_path(source.stem, prec, options.nms)
        if options.nms == "onnx":
            add_onnx_nms(m, spec.num_priors or _graph_priors(m), spec.num_classes,
                         options.conf_threshold,
                         options.iou_threshold, options.candidate_size, -1, options.max_detections)
            save_onnx(m, path)
            art = WrittenFile(path, "onnx", prec, nms="onnx")
            if options.check:
                art.notes.append(check_onnx_nms(path, models[prec][0], inputs, options))
        else:
            add_trt_nms(m, options.conf_threshold, options.iou_threshold, options.max_detections,
                        options.class_agnostic if options.class_agnostic else None)
            save_onnx(m, path)
            art = WrittenFile(path, "onnx", prec, nms="trt")
            art.notes.append(check_plugin_attributes(plugin_attributes(m), spec, options))
        out.append(art)
    return out


def _engines(source, spec, models, options, echo, ref=None, inputs=None, run_engine=None):
    """TensorRT engines where TensorRT is present; otherwise the command to run on the target."""
    wanted = [p for p in PRECISIONS if p in models and (p != "fp32" or len(models) == 1)]
    try:
        from .tensorrt import tensorrt_available
    except ImportError:
        tensorrt_available = None
    have = tensorrt_available is not None and tensorrt_available()
    if not have:
        cmds = [_engine_command(_engine_onnx(source, models, p, options), options)
                for p in wanted]
        if options.engine:
            raise SsdEdgeError("--engine needs TensorRT and a GPU, and this machine has neither; "
                               "the ONNX files are written — on the target run: " + "; ".join(cmds))
        if options.fp16 or options.int8:
            echo("TensorRT is not installed here; on the target build the engine with:")
            for c in cmds:
                echo("  " + c)
        return []
    if not options.engine:
        return []
    from .tensorrt import engine_from_export
    out = []
    for prec in wanted:
        for path in engine_from_export(_engine_onnx(source, models, prec, options), prec, spec,
                                       options, echo):
            side = read_sidecar(path) or {}    # what the engine really holds
            art = WrittenFile(path, "engine", side.get("precision", prec),
                           nms=side.get("nms", options.nms))
            if options.check and ref is not None and run_engine is not None:
                from .engine_check import check_engine   # the full check: TensorRT is here
                art.parity, notes = check_engine(run_engine(path, inputs), art.precision,
                                                 art.nms, spec, ref, inputs, options, path)
                art.notes += notes
            out.append(art)
    return out


def _engine_onnx(source, models, prec, options):
    """The ONNX an engine is built from: with ``--nms`` the variant with NMS inside."""
    if options.nms == "none":
        return models[prec][0]
    return artifact_path(source.stem, prec, options.nms)


def _engine_command(onnx, options):
    """The target's command for ``onnx`` (already in its precision: no --fp16/--int8 again)."""
    return export_command(onnx, max_batch=options.max_batch if options.dynamic_batch else None,
                          extra=[("--dla", options.dla_core),
                                 ("--workspace", options.workspace_mib or None)])


def summary_lines(arts):
    """The closing table: artifact, size, precision, NMS, parity figures, notes."""
    rows = [("artifact", "size", "precision", "nms", "parity vs reference")]
    for a in arts:
        rows.append((a.path, "%.1f MB" % a.size_mb, a.precision, a.nms,
                     a.parity.line() if a.parity else "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    for a in arts:
        lines += ["  %s: %s" % (os.path.basename(a.path), n) for n in a.notes if n]
    return lines
