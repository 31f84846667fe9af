"""Cross-checks between what an artifact *says* (its spec, its sidecar) and what it *is*.

A spec embedded in an ONNX file or an engine sidecar is untrusted: a forged or stale one could
name 91 labels for a 21-class graph, a 512 input for a 300 graph, or priors the graph does not
have, and the runtime would then give silently wrong detections. These checks run when the
artifact is opened, each failure one line naming the field, the expected and the found value.
Options given to the Detector (thresholds, counts) are range-checked here too.
"""
import math
import numbers
import os

from .errors import SsdEdgeError


def check_spec_against_graph(spec, info, path, priors=True):
    """Compare ``spec`` with the ONNX graph ``info`` (:class:`~.onnxinfo.OnnxInfo`).

    Checks the input ``[B, 3, H, W]`` against ``spec.input_size``, and for a decoded graph
    ``scores [B, P, C]`` / ``boxes [B, P, 4]`` against the label count and the priors the spec
    describes (a spec without prior levels, or ``priors=False`` for a foreign decoded graph whose
    spec came from zoo defaults, skips the latter). Symbolic dimensions are not checked.
    """
    name = os.path.basename(path)
    if info is None:
        return
    if info.inputs:
        shape = info.inputs[0].shape
        if len(shape) != 4:
            raise _mismatch(name, "input %s" % info.inputs[0].name, "4 dims [B, 3, H, W]",
                            list(shape))
        if _fixed(shape[1]) and shape[1] != 3:
            raise _mismatch(name, "input channels", 3, shape[1])
        want = tuple(spec.input_size)
        got = tuple(shape[2:])
        if all(_fixed(v) for v in got) and got != want:
            raise _mismatch(name, "input_size (H, W)", "the graph's %s" % (got,), want)
    outs = {t.name: t.shape for t in info.outputs}
    scores, boxes = outs.get("scores"), outs.get("boxes")
    if scores is not None and len(scores) == 3:
        if _fixed(scores[2]) and scores[2] != spec.num_classes:
            raise _mismatch(name, "labels", "%d names, as the graph's classes (scores [B, P, %d])"
                            % (scores[2], scores[2]), "%d names" % spec.num_classes)
        priors = _spec_priors(spec) if priors else 0
        if priors and _fixed(scores[1]) and scores[1] != priors:
            raise _mismatch(name, "prior_levels", "%d priors, as the graph's scores [B, %d, C]"
                            % (scores[1], scores[1]), "levels giving %d priors" % priors)
    if boxes is not None and len(boxes) == 3 and _fixed(boxes[2]) and boxes[2] != 4:
        raise _mismatch(name, "boxes output", "[B, P, 4]", list(boxes))


def _spec_priors(spec):
    try:
        return int(spec.num_priors) if spec.prior_levels else 0
    except (TypeError, ValueError, AttributeError):
        return 0


def _fixed(v):
    return isinstance(v, int) and v > 0


def _mismatch(name, field, expected, got):
    return SsdEdgeError("%s: spec field %s does not match the graph: expected %s, got %s; "
                        "re-export the model with ssd-export" % (name, field, expected, got))


# ------------------------------------------------------------------ engine sidecars
_SIDECAR_TYPES = (
    ("engine", (str,), True), ("onnx", (str,), True), ("onnx_sha256", (str,), True),
    ("tensorrt_version", (str,), True), ("precision", (str,), True), ("nms", (str,), True),
    ("gpu", (dict,), True), ("batch", (dict,), True), ("spec", (dict, str), True),
)


def check_sidecar(data, side):
    """Raise unless the engine sidecar dict ``data`` (read from ``side``) has sane field types."""
    for key, types, nullable in _SIDECAR_TYPES:
        if key in data and not (isinstance(data[key], types) or (nullable and data[key] is None)):
            raise _side(side, key, " or ".join(t.__name__ for t in types), data[key])
    dla = data.get("dla_core")
    if dla is not None and not (_int(dla) and 0 <= dla <= 16):
        raise _side(side, "dla_core", "null or a core number 0..16", dla)
    gpu = data.get("gpu") or {}
    for key in ("name", "compute_capability"):
        if gpu.get(key) is not None and not isinstance(gpu[key], str):
            raise _side(side, "gpu." + key, "a string", gpu[key])
    batch = data.get("batch") or {}
    for key in ("min", "opt", "max"):
        if key in batch and not (_int(batch[key]) and 1 <= batch[key] <= 4096):
            raise _side(side, "batch." + key, "an integer from 1 to 4096", batch[key])
    if all(k in batch for k in ("min", "opt", "max")) and \
            not batch["min"] <= batch["opt"] <= batch["max"]:
        raise _side(side, "batch", "min <= opt <= max", batch)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _side(side, field, expected, got):
    text = repr(got)
    return SsdEdgeError("engine sidecar %s: field %s: expected %s, got %s; rebuild the engine "
                        "with ssd-export" % (side, field, expected,
                                             text if len(text) < 60 else text[:57] + "..."))


# ------------------------------------------------------------------ detection options
def check_detect_options(conf_threshold, iou_threshold, candidate_size, top_k, max_detections):
    """Range-check the post-processing settings; one line naming the bad one."""
    _unit("conf_threshold", conf_threshold, 0.0, True)
    _unit("iou_threshold", iou_threshold, 0.0, False)
    _count("candidate_size", candidate_size, 1)
    _count("top_k", top_k, -1)
    _count("max_detections", max_detections, -1)


def _unit(name, value, lo, lo_closed):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SsdEdgeError("expected %s to be a number, got %r" % (name, value))
    ok = math.isfinite(v) and (v >= lo if lo_closed else v > lo) and v <= 1.0
    if not ok:
        raise SsdEdgeError("expected %s in %s0, 1], got %r" % (name, "[" if lo_closed else "(",
                                                               value))


def _count(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or int(value) != value:
        raise SsdEdgeError("expected %s to be an integer, got %r" % (name, value))
    if value < lo:
        raise SsdEdgeError("expected %s >= %d%s, got %r" % (
            name, lo, " (-1: no limit)" if lo < 0 else "", value))
