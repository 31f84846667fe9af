"""ssd-export's phone and small-board artifacts: LiteRT, ncnn and Core ML.

All three convert from the PyTorch model (not from the ONNX), so they need a checkpoint. The
parity pass (:mod:`ssd_edge.export.verify`) checks each file as it is yielded: it runs on its
own runtime (``litert`` / ``ncnn`` backends) on the same inputs as the ONNX checks, FP32 within
1e-4 of PyTorch or the export fails, FP16 / INT8 agreement reported (the calibration images
when given). Core ML cannot run off Apple systems: its spec and I/O are checked and the
numeric check is left to a Mac with the printed command.
"""
import os

from ..errors import SsdEdgeError

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


def mobile_artifacts(source, spec, calib, options, echo):
    """Write every mobile artifact ``options`` asks for, yielding each pipeline file as soon as
    it exists (ssd-export's parity pass checks it before the next is converted)."""
    if source.model is None:
        refuse_onnx(source.onnx_path or ".onnx", asked(options))
    if options.tflite:
        for art in _tflite(source, spec, calib, options, echo):
            yield art
    if options.ncnn:
        for art in _ncnn(source, spec, options, echo):
            yield art
    if options.coreml:
        for art in _coreml(source, spec, options, echo):
            yield art


def _tflite(source, spec, calib, options, echo):
    from . import tflite
    from .pipeline import WrittenFile as Artifact, artifact_path
    echo("LiteRT: converting with litert-torch")
    fp32 = tflite.export_tflite(source.model, spec, artifact_path(source.stem, ext="tflite"))
    yield Artifact(fp32, "tflite", "fp32")
    if options.fp16:
        yield Artifact(tflite.to_tflite_fp16(fp32, artifact_path(source.stem, "fp16",
                                                                 ext="tflite"), spec),
                       "tflite", "fp16")
    if options.int8 and calib is not None:
        echo("LiteRT: INT8 calibration on %d images" % len(calib))
        yield Artifact(tflite.to_tflite_int8(fp32, artifact_path(source.stem, "int8",
                                                                 ext="tflite"),
                                             spec, calib, options.calib_method), "tflite", "int8")


def _ncnn(source, spec, options, echo):
    from . import ncnn
    from .pipeline import WrittenFile as Artifact, artifact_path
    for prec in ("fp32", "fp16") if options.fp16 else ("fp32",):
        echo("ncnn: converting with pnnx (%s)" % prec)
        path = ncnn.export_ncnn(source.model, spec, artifact_path(source.stem, prec,
                                                                  ext="ncnn.param"),
                                fp16=prec == "fp16")
        yield Artifact(path, "ncnn", prec)


def _coreml(source, spec, options, echo):
    from . import coreml
    from .pipeline import WrittenFile as Artifact, artifact_path
    for prec in ("fp32", "fp16") if options.fp16 else ("fp32",):
        echo("Core ML: converting with coremltools (%s)" % prec)
        path = coreml.export_coreml(source.model, spec, artifact_path(source.stem, prec,
                                                                      ext="mlpackage"),
                                    fp16=prec == "fp16")
        yield Artifact(path, "coreml", prec)
