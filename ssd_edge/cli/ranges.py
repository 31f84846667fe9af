"""Range checks for every numeric command-line flag, applied right after parsing.

argparse converts ``--conf nan`` or ``--width 100000`` without complaint; a NaN threshold then
keeps nothing, a huge frame size allocates gigabytes. Each flag's accepted range lives in one
table here, keyed by its argparse ``dest``, so every CLI sharing a flag shares its range; a
flag a CLI lacks is skipped. A value outside its range is one :class:`SsdEdgeError` line.
"""
import math

from ..errors import SsdEdgeError

INF = float("inf")
#: The largest frame side accepted for --width/--height (a 16K frame; decoders stop at 16384).
MAX_SIDE = 16384
#: The ONNX opsets the exporter produces graphs for (TorchScript exporter, onnxsim, TensorRT).
OPSETS = (11, 20)

# dest: (low, high, low inclusive, high inclusive, integer?, what)
_RULES = {
    "conf": (0, 1, True, True, False, "a score threshold in [0, 1]"),
    "iou": (0, 1, False, True, False, "an IoU threshold in (0, 1]"),
    "alpha": (0, 1, True, True, False, "an opacity in [0, 1]"),
    "map_threshold": (0, 1, True, True, False, "a score threshold in [0, 1]"),
    "camera": (0, 4096, True, True, True, "a camera number >= 0"),
    "max_frames": (1, INF, True, True, True, "a frame count >= 1"),
    "duration": (0, INF, False, False, False, "seconds > 0"),
    "width": (1, MAX_SIDE, True, True, True, "a width from 1 to %d pixels" % MAX_SIDE),
    "height": (1, MAX_SIDE, True, True, True, "a height from 1 to %d pixels" % MAX_SIDE),
    "rate": (0, 1000, False, True, False, "a frame rate above 0 and at most 1000"),
    "loop": (-1, INF, True, True, True, "-1 (forever) or a pass count >= 0"),
    "threads": (1, 1024, True, True, True, "a thread count from 1 to 1024"),
    "opset": (OPSETS[0], OPSETS[1], True, True, True, "an opset from %d to %d" % OPSETS),
    "batch": (1, 1024, True, True, True, "a batch size from 1 to 1024"),
    "max_batch": (1, 4096, True, True, True, "a batch size from 1 to 4096"),
    "calib_count": (1, 10 ** 7, True, True, True, "an image count >= 1"),
    "workspace": (1, 1 << 20, True, True, True, "MiB from 1 to 1048576"),
    "dla": (0, 16, True, True, True, "a DLA core number from 0 to 16"),
    "resolution": (32, 4096, True, True, True, "an input size from 32 to 4096 pixels"),
    "iterations": (1, 10 ** 7, True, True, True, ">= 1"),
    "warmup": (0, 10 ** 6, True, True, True, ">= 0"),
    "max_seconds": (0, INF, True, False, False, "seconds >= 0"),
    "limit": (1, INF, True, True, True, "a count >= 1"),
    "workers": (0, 256, True, True, True, "a worker count from 0 to 256"),
    "batch_size": (1, 65536, True, True, True, "a batch size >= 1"),
    "epochs": (1, 10 ** 6, True, True, True, "an epoch count >= 1"),
    "max_iters": (1, INF, True, True, True, "an iteration count >= 1"),
    "lr": (0, 100, False, True, False, "a learning rate > 0"),
    "base_net_lr": (0, 100, True, True, False, "a learning rate >= 0"),
    "extra_layers_lr": (0, 100, True, True, False, "a learning rate >= 0"),
    "momentum": (0, 1, True, False, False, "a momentum in [0, 1)"),
    "weight_decay": (0, 1, True, True, False, "a weight decay in [0, 1]"),
    "gamma": (0, 1, False, True, False, "a factor in (0, 1]"),
    "t_max": (0, INF, False, False, False, "epochs > 0"),
    "warmup_epochs": (0, INF, True, False, False, "epochs >= 0"),
    "zoom_out": (1, 16, True, True, False, "a zoom factor from 1 to 16"),
    "validation_epochs": (1, 10 ** 6, True, True, True, "an epoch count >= 1"),
    "debug_steps": (1, INF, True, True, True, "a step count >= 1"),
    "width_mult": (0, 4, False, True, False, "a width multiplier in (0, 4]"),
}
# Flags whose -1 means "no limit".
_NO_LIMIT = {"max_detections": "-1 (no limit) or a count >= 1"}


def check_numeric_args(args):
    """Raise :class:`SsdEdgeError` for the first numeric flag of ``args`` out of its range."""
    values = vars(args)
    for dest, (lo, hi, lo_in, hi_in, integer, what) in _RULES.items():
        value = values.get(dest)
        if dest == "resolution" and isinstance(value, str):
            _check_sides(value, lo, hi, what)
            continue
        if value is None or isinstance(value, (bool, str)):
            continue
        if not _in_range(value, lo, hi, lo_in, hi_in, integer):
            raise SsdEdgeError("expected --%s %s, got %s" % (dest.replace("_", "-"), what,
                                                             _show(value)))
    for dest, what in _NO_LIMIT.items():
        value = values.get(dest)
        if value is not None and not isinstance(value, bool) and value != -1 and value < 1:
            raise SsdEdgeError("expected --%s %s, got %s" % (dest.replace("_", "-"), what,
                                                             _show(value)))
    return args


def _check_sides(text, lo, hi, what):
    """``--resolution N`` or ``WxH``: every side a whole number of pixels in ``[lo, hi]`` (the
    format itself is the model zoo's to check)."""
    parts = text.strip().lower().replace("\u00d7", "x").split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        return
    if not all(lo <= v <= hi for v in sides):
        raise SsdEdgeError("expected --resolution %s (N or WxH), got %s" % (what, text))


def _in_range(value, lo, hi, lo_in, hi_in, integer):
    if not isinstance(value, (int, float)) or (isinstance(value, float) and
                                               not math.isfinite(value)):
        return False
    if integer and int(value) != value:
        return False
    return (value >= lo if lo_in else value > lo) and (value <= hi if hi_in else value < hi)


def _show(value):
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else str(value)
