"""ssd-export's phone and small-board artifacts: LiteRT, ncnn and Core ML, each checked.

All three convert from the PyTorch model (not from the ONNX), so they need a checkpoint. The
parity check after each runs the file on its own runtime (``litert`` / ``ncnn`` backends) on the
same inputs as the ONNX checks: FP32 within 1e-4 of PyTorch or the export fails, FP16 / INT8
agreement reported (the calibration images when given). Core ML cannot run off Apple systems:
its spec and I/O are checked and the numeric check is left to a Mac with the printed command.
"""
import os

from ..errors import SsdEdgeError
from . import parity as par

#: (flag, ExportOptions field) of the mobile targets.
FLAGS = (("--tflite", "tflite"), ("--ncnn", "ncnn"), ("--coreml", "coreml"))


def asked(options):
    """The mobile flags ``options`` turns on, e.g. ``["--tflite", "--ncnn"]``."""
    return [flag for flag, field in FLAGS if getattr(options, field, False)]


# Import names each flag's converter and check need (all in the ``mobile`` extra).
_NEEDS = {"--tflite": ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"),
          "--ncnn": ("pnnx", "ncnn"), "--coreml": ("coremltools",)}


def require_packages(flags):
    """Raise before any work when a flag's converter is not installed, naming the extra."""
    import importlib.util
    from ..errors import missing_extra
    for flag in flags:
        for name in _NEEDS.get(flag, ()):
            if importlib.util.find_spec(name) is None:
                raise SsdEdgeError("%s needs %s: %s" % (flag, name, missing_extra(name, "mobile")))


def refuse_onnx(model_path, flags):
    """Raise when mobile ``flags`` are asked for an ONNX input (they convert from PyTorch)."""
    if flags and str(model_path).lower().endswith(".onnx"):
        raise SsdEdgeError(
            "expected the PyTorch checkpoint (.pth) for %s, got an ONNX file (%s): these formats "
            "are converted from the PyTorch model; run: ssd-export MODEL.pth %s"
            % (" ".join(flags), os.path.basename(str(model_path)), " ".join(flags)))


def mobile_artifacts(source, spec, calib, ref, inputs, options, echo, run_file=None):
    """Write and check every mobile artifact ``options`` asks for; returns pipeline files.

    ``run_file``: ``{kind: fn(path, inputs (N, 3, H, W)) -> {"scores", "boxes"}}`` that runs a
    written file for its parity check (``ssd-export`` passes the runtime's
    :data:`ssd_edge.runtime.mobile_outputs.RUNNERS`); without one the check is skipped."""
    run_file = run_file or {}
    if source.model is None:
        refuse_onnx(source.onnx_path or ".onnx", asked(options))
    out = []
    if options.tflite:
        out += _tflite(source, spec, calib, ref, inputs, options, echo, run_file.get("tflite"))
    if options.ncnn:
        out += _ncnn(source, spec, ref, inputs, options, echo, run_file.get("ncnn"))
    if options.coreml:
        out += _coreml(source, spec, options, echo)
    return out


def _tflite(source, spec, calib, ref, inputs, options, echo, run):
    from . import tflite
    from .pipeline import WrittenFile as Artifact, artifact_path
    echo("LiteRT: converting with litert-torch")
    fp32 = tflite.export_tflite(source.model, spec, artifact_path(source.stem, ext="tflite"))
    done = [(fp32, "fp32")]
    if options.fp16:
        done.append((tflite.to_tflite_fp16(fp32, artifact_path(source.stem, "fp16", ext="tflite"),
                                           spec), "fp16"))
    if options.int8 and calib is not None:
        echo("LiteRT: INT8 calibration on %d images" % len(calib))
        done.append((tflite.to_tflite_int8(fp32, artifact_path(source.stem, "int8", ext="tflite"),
                                           spec, calib, options.calib_method), "int8"))
    return [_checked(Artifact(path, "tflite", prec), spec, ref, inputs, options,
                     run) for path, prec in done]


def _ncnn(source, spec, ref, inputs, options, echo, run):
    from . import ncnn
    from .pipeline import WrittenFile as Artifact, artifact_path
    out = []
    for prec in ("fp32", "fp16") if options.fp16 else ("fp32",):
        echo("ncnn: converting with pnnx (%s)" % prec)
        path = ncnn.export_ncnn(source.model, spec, artifact_path(source.stem, prec,
                                                                  ext="ncnn.param"),
                                fp16=prec == "fp16")
        out.append(_checked(Artifact(path, "ncnn", prec), spec, ref, inputs, options,
                            run))
    return out


def _coreml(source, spec, options, echo):
    from . import coreml
    from .pipeline import WrittenFile as Artifact, artifact_path
    out = []
    for prec in ("fp32", "fp16") if options.fp16 else ("fp32",):
        echo("Core ML: converting with coremltools (%s)" % prec)
        path = coreml.export_coreml(source.model, spec, artifact_path(source.stem, prec,
                                                                      ext="mlpackage"),
                                    fp16=prec == "fp16")
        art = Artifact(path, "coreml", prec)
        art.notes.append(coreml.check_coreml(path, spec) if options.check else
                         "not checked (--no-check)")
        out.append(art)
    return out


def _checked(art, spec, ref, inputs, options, run):
    if not options.check or ref is None or run is None:
        return art
    outs = run(art.path, inputs)
    art.parity = par.compare_raw(spec, ref, (outs["scores"], outs["boxes"]))
    if art.precision == "fp32":
        par.check_fp32(art.parity, art.path)
    warning = par.warn_reduced(art.parity, art.precision)
    if warning:
        art.notes.append(warning)
    return art
