"""Core ML artifacts: ``model.mlpackage`` (FP32) and ``model.fp16.mlpackage`` for iPhone / iPad / Mac.

``coremltools`` converts the ``torch.export`` program (its TorchScript path fails with current
torch) to an ML Program; the input is renamed ``input_0 float32 [1, 3, H, W]`` (NCHW, already
normalised by the spec, as the ONNX input) and the outputs are ``scores`` and ``boxes``. The
spec travels in the model's user-defined metadata under ``ssd_edge.spec``.

Core ML runs only on Apple systems: here the package is checked for what can be checked without
running it (spec, I/O names and shapes); :func:`macos_check_command` gives the command that does
the numeric check on a Mac.
"""
import os
import shutil
import tempfile

from ..errors import SsdEdgeError, missing_extra

from ..contract import SPEC_KEY


def _coremltools():
    import logging
    # On Linux coremltools logs, at import, each macOS-only proxy it cannot load, and that
    # torch is newer than the ones it was tested with; neither is actionable here.
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    from .quiet import output_to_file
    try:
        with tempfile.TemporaryDirectory(prefix="ssd-edge-coreml-") as tmp:
            with output_to_file(os.path.join(tmp, "import.log")):   # torchao's load warnings
                import coremltools as ct
    except ImportError:
        raise missing_extra("coremltools", "mobile")
    return ct


def export_coreml(model, spec, path, fp16=False):
    """Write the ``.mlpackage`` folder ``path`` from ``model``; returns ``path``.

    ``fp16``: Core ML's float16 compute precision (what the Neural Engine runs); else float32.
    """
    import torch
    ct = _coremltools()
    h, w = spec.input_size
    precision = "fp16" if fp16 else "fp32"
    try:
        program = _quiet(lambda: torch.export.export(
            model.eval(), (torch.zeros(1, 3, h, w),)).run_decompositions({}))
        ml = _quiet(lambda: ct.convert(
            program, outputs=[ct.TensorType(name="scores"), ct.TensorType(name="boxes")],
            convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
            skip_model_load=True))
    except Exception as e:        # torch.export and the MIL passes raise many kinds
        raise SsdEdgeError("coremltools cannot convert %s: %s" % (
            spec.arch, (str(e).strip().splitlines() or [repr(e)])[0]))
    proto = ml.get_spec()
    old = proto.description.input[0].name
    if old != "input_0":
        ct.utils.rename_feature(proto, old, "input_0")
    ml = ct.models.MLModel(proto, weights_dir=ml.weights_dir, skip_model_load=True)
    ml.user_defined_metadata[SPEC_KEY] = spec.replace(precision=precision).to_json()
    ml.short_description = "%s detector (%d classes), exported by ssd-edge" % (
        spec.arch, spec.num_classes - 1)
    _save_folder(ml, path)
    return path


def _save_folder(ml, path):
    """An .mlpackage is a folder: save it beside ``path`` under a temporary name, then swap."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = tempfile.mkdtemp(dir=folder, prefix=".mlpackage-")
    try:
        staged = os.path.join(tmp, os.path.basename(path))
        ml.save(staged)
        old = None
        if os.path.exists(path):
            old = os.path.join(tmp, "old")
            os.replace(path, old)
        os.replace(staged, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _quiet(fn):
    import contextlib
    import io
    import warnings
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # torch.export's deprecations
        return fn()


def read_coreml(path):
    """What an ``.mlpackage`` declares, read without running it (works on Linux).

    Returns ``{"spec": dict or None, "inputs": [...], "outputs": [...]}`` with each I/O as
    ``{"name", "dtype", "shape"}``.
    """
    import json
    ct = _coremltools()
    try:
        ml = ct.models.MLModel(path, skip_model_load=True)
    except Exception as e:
        raise SsdEdgeError("expected a Core ML .mlpackage at %s, got one coremltools cannot "
                           "read (%s)" % (path, str(e).splitlines()[0] if str(e) else e))
    desc = ml.get_spec().description

    def io(items):
        return [{"name": t.name, "dtype": _DTYPES.get(t.type.multiArrayType.dataType, "?"),
                 "shape": [int(d) for d in t.type.multiArrayType.shape]} for t in items]
    meta = dict(desc.metadata.userDefined)
    return {"spec": json.loads(meta[SPEC_KEY]) if SPEC_KEY in meta else None,
            "inputs": io(desc.input), "outputs": io(desc.output)}


# Core ML ArrayFeatureType.ArrayDataType values.
_DTYPES = {65568: "float32", 65552: "float16", 65600: "float64", 131104: "int32"}


def check_coreml(path, spec):
    """Check an exported package's spec and I/O against ``spec``; returns the summary note.

    Raises :class:`SsdEdgeError` when the names, shapes or spec differ.
    """
    got = read_coreml(path)
    h, w = spec.input_size
    want_in = [("input_0", [1, 3, h, w])]
    want_out = [("scores", [1, spec.num_priors, spec.num_classes]),
                ("boxes", [1, spec.num_priors, 4])]
    have_in = [(t["name"], t["shape"]) for t in got["inputs"]]
    have_out = sorted((t["name"], t["shape"]) for t in got["outputs"])
    if have_in != want_in or have_out != sorted(want_out):
        raise SsdEdgeError("expected Core ML I/O %s -> %s in %s, got %s -> %s"
                           % (want_in, want_out, path, have_in, have_out))
    if not got["spec"] or got["spec"].get("labels") != list(spec.labels):
        raise SsdEdgeError("expected the spec under %s in %s's metadata, got %s"
                           % (SPEC_KEY, path, "none" if not got["spec"] else "another one"))
    return ("Core ML runs only on Apple systems: spec and I/O checked here; numeric check on a "
            "Mac: " + macos_check_command(path))


def macos_check_command(path):
    """The shell command that compares the package's outputs with ONNX Runtime on a Mac."""
    onnx = path.replace(".fp16.mlpackage", ".onnx").replace(".mlpackage", ".onnx")
    return ("python -m ssd_edge.export.coreml_check %s %s" % (path, onnx))
