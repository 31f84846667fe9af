"""Checks on a detector spec read from a file, before a :class:`DetectorSpec` is built from it.

The spec travels inside artifacts that may come from anywhere (a forged ONNX, an edited engine
sidecar), so its JSON is untrusted input: every field it names must have the JSON type the
dataclass expects, every number must be finite and within sizes a detector can have. A failure
is one :class:`SsdEdgeError` line naming the field, what was expected and what was found.

Fields this module does not know are left to :meth:`DetectorSpec.from_dict`; prior-level values
may be a number or a per-axis list of numbers, and input sizes need not be square.
"""
import math

from .errors import SsdEdgeError

#: The largest network input side accepted from a file (pixels); real SSDs stay below 2048.
MAX_INPUT_SIDE = 8192
#: The most classes (BACKGROUND included) and aspect ratios per level accepted from a file.
MAX_LABELS = 100000
MAX_RATIOS = 16
MAX_LEVELS = 32
#: The most priors a spec may describe (SSD512 has 24564; this leaves room for any fork).
MAX_PRIORS = 2000000

_STR = ("arch", "channel_order", "output_layout", "precision")
_OPT_STR = ("activation", "source_sha256")
_NUM = ("center_variance", "size_variance", "width_mult")
_NMS_NUM = ("conf_threshold", "iou_threshold")
_NMS_INT = ("candidate_size", "top_k", "max_detections")
_LEVEL_INT = ("feature_map_size",)
_LEVEL_NUM = ("shrinkage",)
#: box sizes per level (UltraFace lists several square sizes per level).
MAX_SIZES = 16


def check_spec_dict(d):
    """Raise :class:`SsdEdgeError` when the spec dict ``d`` (parsed JSON) is malformed."""
    if not isinstance(d, dict):
        raise _bad("the detector spec", "a JSON object", _kind(d))
    _finite(d, "spec")
    for key in _STR:
        if key in d and not isinstance(d[key], str):
            raise _bad(key, "a string", _kind(d[key]))
    for key in _OPT_STR:
        if key in d and d[key] is not None and not isinstance(d[key], str):
            raise _bad(key, "a string or null", _kind(d[key]))
    for key in _NUM:
        if key in d and not _is_num(d[key]):
            raise _bad(key, "a number", _kind(d[key]))
    if "clamp" in d and not isinstance(d["clamp"], bool):
        raise _bad("clamp", "true or false", _kind(d["clamp"]))
    if "schema" in d and not _is_int(d["schema"]):
        raise _bad("schema", "an integer", _kind(d["schema"]))
    _check_labels(d.get("labels"))
    _check_input_size(d.get("input_size", [300, 300]))
    for key in ("mean", "std"):
        if key in d:
            v = d[key]
            if not (isinstance(v, list) and len(v) == 3 and all(_is_num(x) for x in v)):
                raise _bad(key, "a list of 3 numbers", _short(v))
    if "nms" in d:
        _check_nms(d["nms"])
    if "prior_levels" in d:
        _check_levels(d["prior_levels"], d.get("input_size", [300, 300]))


def _check_labels(labels):
    if not isinstance(labels, list):
        raise _bad("labels", "a list of class names", _kind(labels))
    if not 2 <= len(labels) <= MAX_LABELS:
        raise _bad("labels", "2 to %d names (BACKGROUND first)" % MAX_LABELS, len(labels))
    for i, name in enumerate(labels):
        if not isinstance(name, str):
            raise _bad("labels[%d]" % i, "a string", _kind(name))


def _check_input_size(size):
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
        raise _bad("input_size", "[H, W] of 2 integers", _short(size))
    if not all(1 <= v <= MAX_INPUT_SIDE for v in size):
        raise _bad("input_size", "sides from 1 to %d pixels" % MAX_INPUT_SIDE, size)


def _check_nms(nms):
    if not isinstance(nms, dict):
        raise _bad("nms", "a JSON object", _kind(nms))
    for key in _NMS_NUM:
        if key in nms and not _is_num(nms[key]):
            raise _bad("nms." + key, "a number", _kind(nms[key]))
    for key in _NMS_INT:
        if key in nms and not _is_int(nms[key]):
            raise _bad("nms." + key, "an integer", _kind(nms[key]))


def _check_levels(levels, input_size):
    if not isinstance(levels, list):
        raise _bad("prior_levels", "a list of level objects", _kind(levels))
    if len(levels) > MAX_LEVELS:
        raise _bad("prior_levels", "at most %d levels" % MAX_LEVELS, len(levels))
    side = max(input_size) if isinstance(input_size, list) and input_size else MAX_INPUT_SIDE
    total = 0
    for i, lv in enumerate(levels):
        where = "prior_levels[%d]" % i
        if not isinstance(lv, dict):
            raise _bad(where, "a level object", _kind(lv))
        for key in _LEVEL_INT:
            if key in lv:
                _per_axis(lv[key], where + "." + key, _is_int, "an integer", 1, side)
        for key in _LEVEL_NUM:
            if key in lv:
                _per_axis(lv[key], where + "." + key, _is_num, "a number", 0, 1e6)
        sizes = _box_sizes(lv.get("min_size", 1), where + ".min_size")
        if lv.get("max_size") is not None:
            _box_sizes(lv["max_size"], where + ".max_size")
        ratios = lv.get("aspect_ratios", [])
        if not (isinstance(ratios, list) and len(ratios) <= MAX_RATIOS
                and all(_is_num(r) for r in ratios)):
            raise _bad(where + ".aspect_ratios", "a list of at most %d numbers" % MAX_RATIOS,
                       _short(ratios))
        cells = 1
        fm = lv.get("feature_map_size", 1)
        for v in (fm if isinstance(fm, list) else [fm, fm]):
            cells *= v
        extra = 1 if lv.get("max_size") is not None else 0
        total += cells * (sizes + extra + 2 * sizes * len(ratios))
    if total > MAX_PRIORS:
        raise _bad("prior_levels", "at most %d priors in all" % MAX_PRIORS, total)


def _box_sizes(value, where):
    """A box size in pixels, or a list of 1..MAX_SIZES of them; returns how many."""
    values = value if isinstance(value, list) else [value]
    if not 1 <= len(values) <= MAX_SIZES:
        raise _bad(where, "a number or a list of 1 to %d numbers" % MAX_SIZES, _short(value))
    for v in values:
        if not _is_num(v):
            raise _bad(where, "a number or a list of numbers", _kind(v))
        if not 0 <= v <= 1e6:
            raise _bad(where, "a value from 0 to 1000000.0", v)
    return len(values)


def _per_axis(value, where, ok, what, lo, hi):
    values = value if isinstance(value, list) and value else [value]
    if isinstance(value, list) and not 1 <= len(value) <= 2:
        raise _bad(where, "%s or a list of 2" % what, _short(value))
    for v in values:
        if not ok(v):
            raise _bad(where, "%s or a list of 2" % what, _kind(v))
        if not lo <= v <= hi:
            raise _bad(where, "a value from %s to %s" % (lo, hi), v)


def _finite(value, where):
    """Refuse NaN and infinities anywhere in the JSON (``json`` parses them by default)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(where, "a finite number", value)
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, "%s.%s" % (where, k) if where != "spec" else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, "%s[%d]" % (where, i))


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (dict, list, str)):
        return "%s %s" % ({dict: "an object", list: "a list", str: "a string"}[type(v)],
                          _short(v))
    return "%s %s" % (type(v).__name__, _short(v))


def _short(v):
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(field, expected, got):
    return SsdEdgeError("invalid detector spec field %s: expected %s, got %s"
                        % (field, expected, got))
