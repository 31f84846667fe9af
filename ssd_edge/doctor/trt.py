"""The TensorRT check: version, where it comes from, and the features ssd-edge relies on.

The probes themselves (named tensors, strong typing, calibrators, progress monitor, DLA cores)
belong to ``ssd_edge.accel.trt_compat.feature_report(trt)``; this module only imports it
lazily and prints what it reports, so the two never disagree.
"""
import json
from collections.abc import Mapping

from .core import FAIL, OK, WARN, Verdict, try_import, version_of, version_tuple

COMPAT_MODULE = "ssd_edge.accel.trt_compat"


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def format_features(report):
    """Turn whatever ``feature_report`` returns into ``(one line, JSON-able dict)``.

    A mapping (or an object with ``to_dict()`` / a dataclass-like ``__dict__``) gives
    ``name`` for True, ``no name`` for False/None and ``name=value`` otherwise.
    """
    if hasattr(report, "to_dict"):
        report = report.to_dict()
    elif not isinstance(report, (Mapping, list, tuple, str)) and hasattr(report, "__dict__"):
        report = vars(report)
    if isinstance(report, (list, tuple)):
        report = dict(item if isinstance(item, tuple) and len(item) == 2 else (str(item), True)
                      for item in report)
    if not isinstance(report, Mapping):
        return str(report), {"report": str(report)}
    parts = []
    for key, value in report.items():
        if key == "version":
            continue                              # already in the finding
        if isinstance(value, (list, tuple)):
            value = "+".join(str(v) for v in value) or "none"
        if value is True:
            parts.append(str(key))
        elif value is False or value is None:
            parts.append("no " + str(key))
        else:
            parts.append("%s=%s" % (key, value))
    return ", ".join(parts), {str(k): _jsonable(v) for k, v in report.items()}


def _builder(trt):
    """A ``trt.Builder`` for the DLA core count, or None (it needs a working GPU)."""
    try:
        return trt.Builder(trt.Logger(trt.Logger.ERROR))
    except Exception:  # noqa: BLE001 - no GPU, no driver, an old TensorRT: no core count
        return None


def _features(env, trt, facts):
    """Return ``(line, data, problem)``; the compat module may not exist yet or may fail."""
    compat, why = try_import(env, COMPAT_MODULE)
    if compat is None or not hasattr(compat, "feature_report"):
        return None, None, "feature probes unavailable (%s %s)" % (
            COMPAT_MODULE, why or "has no feature_report")
    builder = _builder(trt) if facts.get("gpu") else None
    try:
        report = compat.feature_report(trt, builder) if builder is not None else \
            compat.feature_report(trt)
        return format_features(report) + (None,)
    except Exception as e:  # noqa: BLE001 - report the probe's failure, keep going
        return None, None, "feature probe failed: %s: %s" % (type(e).__name__, e)


def check_tensorrt(env, facts):
    trt, why = try_import(env, "tensorrt")
    line = facts.get("jetpack_line")
    if trt is None:
        if facts.get("jetson"):
            return [Verdict("tensorrt", FAIL, "TensorRT Python bindings " + why,
                            "sudo apt-get install python3-libnvinfer (JetPack's TensorRT) and "
                            "use a venv made with --system-site-packages (jetson/setup.sh)")]
        if facts.get("gpu"):
            return [Verdict("tensorrt", WARN, "TensorRT " + why + "; the trt backend and "
                            "engine builds are unavailable", "pip install tensorrt")]
        return [Verdict("tensorrt", OK, "TensorRT not installed (not needed without an NVIDIA "
                        "GPU)")]
    ver = version_of(trt)
    data = {"version": ver, "path": str(getattr(trt, "__file__", ""))}
    feats, fdata, problem = _features(env, trt, facts)
    if fdata is not None:
        data["features"] = fdata
    finding = "TensorRT %s" % ver + (" (%s)" % feats if feats else "")
    if line is not None and line.supported:
        want = version_tuple(line.tensorrt)[:2]
        if version_tuple(ver)[:2] != want:
            return [Verdict("tensorrt", WARN, finding + ", but JetPack %s ships TensorRT %s: a pip "
                            "wheel may shadow JetPack's" % (line.line, line.tensorrt),
                            "pip uninstall tensorrt (inside the venv) to use JetPack's", data)]
    if problem:
        return [Verdict("tensorrt", WARN, finding + "; " + problem,
                        "install the full ssd-edge (the runtime package)", data)]
    return [Verdict("tensorrt", OK, finding, None, data)]
