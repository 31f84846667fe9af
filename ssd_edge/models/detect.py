"""Recognise a pytorch-ssd state_dict: which net, how many classes, which width multiplier.

Each zoo net's key set is read off the net itself (built on the ``meta`` device, so nothing is
allocated); a checkpoint belongs to the net whose key set it equals. No hand-written key rules
to drift from the builders.
"""
import functools

from ..errors import SsdEdgeError
from . import specs

# Wrapper keys under which training scripts store the weights.
_WRAPPER_KEYS = ("state_dict", "model", "net")
_PREFIX = "module."


def unwrap_state_dict(obj, source="checkpoint"):
    """Return the ``{key: tensor}`` dict inside a loaded checkpoint, in its key order.

    Accepts a plain state_dict, a dict holding one under ``state_dict``/``model``/``net``, and
    keys prefixed ``module.`` (DataParallel / DistributedDataParallel).
    """
    import torch

    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and not torch.is_tensor(inner):
                obj = inner
                break
    if not isinstance(obj, dict) or not obj:
        raise SsdEdgeError("expected %s to hold a state_dict (a dict of tensors), got %s"
                           % (source, "an empty dict" if isinstance(obj, dict)
                              else type(obj).__name__))
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            raise SsdEdgeError("expected %s to hold a state_dict (str keys, tensor values), got "
                               "%r: %s" % (source, key, type(value).__name__))
        out[key[len(_PREFIX):] if key.startswith(_PREFIX) else key] = value
    return out


@functools.lru_cache(maxsize=None)
def arch_keys(arch):
    """Return the state_dict keys of ``arch`` in order (any class count, any width)."""
    from .zoo import build_layers

    levels = specs.table_levels(arch)
    net = build_layers(arch, 2, [lv.boxes_per_location for lv in levels], meta=True)
    return tuple(net.state_dict())


def detect_arch(state_dict, net=None):
    """Return the zoo name whose keys ``state_dict`` has exactly.

    Args:
        net: the expected arch; then only that one is checked.
    Raises :class:`SsdEdgeError` naming the closest net and the first key that does not fit.
    """
    keys = list(state_dict)
    have = set(keys)
    candidates = [specs.check_arch(net)] if net is not None else list(specs.ARCHS)
    for arch in candidates:
        if have == set(arch_keys(arch)):
            return arch
    best = max(candidates, key=lambda a: _similarity(have, set(arch_keys(a))))
    want = set(arch_keys(best))
    extra = [k for k in keys if k not in want]
    if extra:
        misfit = "first key that does not fit: %r" % extra[0]
    else:
        misfit = "first missing key: %r" % [k for k in arch_keys(best) if k not in have][0]
    if net is not None:
        raise SsdEdgeError("checkpoint keys do not fit %s (%s); drop --net (net=None in "
                           "Python) to detect the net"
                           % (net, misfit))
    raise SsdEdgeError("unknown architecture: closest known net is %s (%d of its %d keys match), "
                       "%s; expected a pytorch-ssd state_dict of one of %s"
                       % (best, len(have & want), len(want), misfit, ", ".join(specs.ARCHS)))


def _similarity(a, b):
    return len(a & b) / float(len(a | b))


def head_anchors(state_dict):
    """Return the boxes per location of each regression head, from its last conv's shape."""
    out, i = [], 0
    while True:
        convs = [k for k in state_dict if k.startswith("regression_headers.%d." % i)
                 and k.endswith("weight") and state_dict[k].dim() == 4]
        if not convs:
            return out
        last = max(convs, key=lambda k: [int(p) for p in k.split(".")[2:-1]])
        out.append(int(state_dict[last].shape[0]) // 4)
        i += 1


def num_classes_of(state_dict):
    """Return the class count (background included) read off the last heads' shapes."""
    anchors = head_anchors(state_dict)
    last = len(anchors) - 1
    cls = state_dict.get("classification_headers.%d.weight" % last)
    if not anchors or cls is None or anchors[-1] == 0 or cls.shape[0] % anchors[-1]:
        raise SsdEdgeError("cannot read the class count: expected classification_headers.%d."
                           "weight with a multiple of %s outputs, got %s"
                           % (last, anchors[-1] if anchors else "?",
                              None if cls is None else tuple(cls.shape)))
    return int(cls.shape[0]) // anchors[-1]


def width_mult_of(arch, state_dict):
    """Return the width multiplier of ``arch`` read from the shapes (1.0 for fixed-width nets)."""
    if arch not in specs.WIDTH_MULT_ARCHS:
        return 1.0
    from .mobilenet_v2 import width_mult_from_shapes

    wm = width_mult_from_shapes({k: tuple(v.shape) for k, v in state_dict.items()})
    if wm is None:
        raise SsdEdgeError("cannot read the width multiplier of this %s checkpoint from its "
                           "channel counts; pass width_mult=" % arch)
    return wm
