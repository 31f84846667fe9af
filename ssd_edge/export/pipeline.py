"""ssd-export's orchestration: one step per artifact, a parity check after each, a summary."""
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import SsdEdgeError
from . import parity as par

log = logging.getLogger("ssd_edge.export")


@dataclass
class Artifact:
    """One file written by the export, for the closing summary."""

    path: str
    kind: str                        # onnx | ort | engine
    precision: str
    nms: str = "none"
    parity: Optional[par.Parity] = None
    notes: List[str] = field(default_factory=list)

    @property
    def size_mb(self):
        return os.path.getsize(self.path) / 1e6 if os.path.exists(self.path) else 0.0


@dataclass
class Source:
    """What the export starts from: a PyTorch model (checkpoint) or an exported FP32 ONNX."""

    spec: object
    stem: str                        # output path without extension
    model: object = None             # torch.nn.Module or None when starting from ONNX
    onnx_path: Optional[str] = None  # given FP32 ONNX when starting from one


def artifact_path(stem, precision="fp32", nms="none", ext="onnx"):
    """``model.onnx``, ``model.fp16.onnx``, ``model.int8.nms-onnx.onnx``, ``model.int8.ort`` …"""
    parts = [stem]
    if precision != "fp32":
        parts.append(precision)
    if nms != "none":
        parts.append("nms-" + nms)
    return ".".join(parts) + "." + ext


def run_export(source, options, echo=print):
    """Write every artifact ``options`` asks for from ``source``; return the Artifact list."""
    from .calib import check_inputs, load_calibration
    from .metadata import load_onnx, save_onnx
    from .onnx_export import export_onnx
    from .report import format_report, operator_report

    spec = source.spec
    arts = []
    calib = None
    if options.int8:
        if not options.calib_dir:
            raise SsdEdgeError("--int8 needs --calib DIR: a folder of images like the ones the "
                               "camera will see (random calibration is never used)")
        calib = load_calibration(options.calib_dir, spec, options.calib_count, options.seed)
        echo("calibration: %d images from %s" % (len(calib), options.calib_dir))
    inputs = check_inputs(spec, calib, options.check_inputs, options.seed)

    fp32 = artifact_path(source.stem)
    if source.model is not None:
        _, notes = export_onnx(source.model, spec, fp32, options)
        ref = par.torch_outputs(source.model, inputs) if options.check else None
        ref_name = "PyTorch"
    else:
        fp32, notes = source.onnx_path, ["starting from an exported ONNX: parity is against it"]
        ref = _raw(par.ort_outputs(fp32, inputs)) if options.check else None
        ref_name = "the FP32 ONNX"
    base = load_onnx(fp32)
    art = Artifact(fp32, "onnx", "fp32", notes=notes)
    if options.check and source.model is not None:
        art.parity = par.compare_raw(spec, ref, _raw(par.ort_outputs(fp32, inputs)))
        par.check_fp32(art.parity, fp32)
    arts.append(art)
    for line in format_report(operator_report(base)):
        echo("  " + line)

    models = {"fp32": (fp32, base)}
    if options.fp16:
        from .fp16 import to_fp16
        path = artifact_path(source.stem, "fp16")
        half = to_fp16(load_onnx(fp32))        # converts in place: give it its own copy
        save_onnx(half, path)
        models["fp16"] = (path, half)
        arts.append(_checked(Artifact(path, "onnx", "fp16"), spec, ref, inputs, options))
    if options.int8:
        from .int8 import to_int8
        path = artifact_path(source.stem, "int8")
        quant = to_int8(base, calib, options.calib_method)
        save_onnx(quant, path)
        models["int8"] = (path, quant)
        arts.append(_checked(Artifact(path, "onnx", "int8"), spec, ref, inputs, options))
    if options.nms != "none":
        arts += _nms_artifacts(source, spec, models, ref, inputs, options)
    if options.mobile:
        from .mobile import to_ort_format
        for prec in ("fp32", "int8"):
            if prec in models:
                path = to_ort_format(models[prec][0], artifact_path(source.stem, prec, ext="ort"))
                arts.append(_checked(Artifact(path, "ort", prec), spec, ref, inputs, options))
    arts += _engines(source, spec, models, options, echo)
    if ref is not None:
        echo("parity reference: %s on %d inputs" % (ref_name, len(inputs)))
    return arts


def _raw(outs):
    return outs["scores"], outs["boxes"]


def _checked(art, spec, ref, inputs, options):
    if not options.check or ref is None:
        return art
    art.parity = par.compare_raw(spec, ref, _raw(par.ort_outputs(art.path, inputs)))
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
    import copy
    out = []
    for prec, (_, proto) in models.items():
        m = copy.deepcopy(proto)
        path = artifact_path(source.stem, prec, options.nms)
        if options.nms == "onnx":
            add_onnx_nms(m, spec.num_priors, spec.num_classes, options.conf_threshold,
                         options.iou_threshold, options.candidate_size, -1, options.max_detections)
            save_onnx(m, path)
            art = Artifact(path, "onnx", prec, nms="onnx")
            if options.check:
                art.notes.append(check_onnx_nms(path, models[prec][0], inputs, options))
        else:
            add_trt_nms(m, options.conf_threshold, options.iou_threshold, options.max_detections,
                        options.class_agnostic if options.class_agnostic else None)
            save_onnx(m, path)
            art = Artifact(path, "onnx", prec, nms="trt")
            art.notes.append(check_plugin_attributes(plugin_attributes(m), spec, options))
        out.append(art)
    return out


def _engines(source, spec, models, options, echo):
    """TensorRT engines where TensorRT is present; otherwise the command to run on the target."""
    wanted = [p for p in ("fp32", "fp16", "int8") if p in models and (p != "fp32" or len(models) == 1)]
    try:
        from .tensorrt import tensorrt_available
    except ImportError:
        tensorrt_available = None
    have = tensorrt_available is not None and tensorrt_available()
    if not have:
        cmds = ["ssd-export %s --engine%s" % (models[p][0], _engine_flags(options)) for p in wanted]
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
        for path in engine_from_export(models[prec][0], prec, spec, options, echo):
            out.append(Artifact(path, "engine", prec, nms=options.nms))
    return out


def _engine_flags(options):
    flags = ""
    if options.dynamic_batch:
        flags += " --dynamic-batch --max-batch %d" % options.max_batch
    if options.dla_core is not None:
        flags += " --dla %d" % options.dla_core
    if options.workspace_mib:
        flags += " --workspace %d" % options.workspace_mib
    return flags


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
