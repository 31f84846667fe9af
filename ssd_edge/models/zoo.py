"""The model zoo: build a net from a :class:`DetectorSpec`, and a spec for any input size.

``build_spec`` applies docs/architecture.md §4: at 300 the net gets pytorch-ssd's table (checked against the
feature maps the net really produces); at another size the map sizes are measured by running the
net (on PyTorch's ``meta`` device, so no arithmetic is done), ``shrinkage = size / map size`` and
box sizes scale by ``size / 300``.
"""
import contextlib

import torch

from ..errors import SsdEdgeError
from . import specs
from .mobilenet_v1 import build_mb1_ssd, build_mb1_ssd_lite
from .mobilenet_v2 import build_mb2_ssd_lite
from .mobilenet_v3 import build_mb3_large_ssd_lite, build_mb3_small_ssd_lite
from .resnet import build_resnet50_ssd
from .squeezenet import build_sq_ssd_lite
from .vgg import build_vgg16_ssd

# arch -> builder(num_classes, anchors, activation, width_mult) -> SSD without priors.
_BUILDERS = {
    "vgg16-ssd": build_vgg16_ssd,
    "mb1-ssd": build_mb1_ssd,
    "mb1-ssd-lite": build_mb1_ssd_lite,
    "mb2-ssd-lite": build_mb2_ssd_lite,
    "mb3-large-ssd-lite": build_mb3_large_ssd_lite,
    "mb3-small-ssd-lite": build_mb3_small_ssd_lite,
    "sq-ssd-lite": build_sq_ssd_lite,
    "resnet50-ssd": build_resnet50_ssd,
}
assert tuple(_BUILDERS) == specs.ARCHS

# Largest size probed when searching for the smallest input an arch accepts.
_PROBE_LIMIT = 4096


def _meta_device():
    """A context that builds modules without allocating weights, where torch supports it."""
    # Feature probe (torch >= 2.0 makes torch.device a context manager); older torch builds
    # on the CPU, which is slower but gives the same shapes.
    dev = torch.device("meta")
    if hasattr(dev, "__enter__"):
        return dev
    return contextlib.nullcontext()


def build_layers(arch, num_classes, anchors, activation=None, width_mult=1.0, meta=False):
    """Return the untrained net of ``arch`` without priors.

    Args:
        anchors: boxes per location of each feature map (one int per head).
        meta: build on the ``meta`` device (shapes only) — for key and size checks.
    """
    builder = _BUILDERS[specs.check_arch(arch)]
    act = specs.resolve_activation(arch, activation)
    with (_meta_device() if meta else contextlib.nullcontext()):
        net = builder(num_classes, list(anchors), act, specs.resolve_width_mult(arch, width_mult))
    return net


def build_model(spec):
    """Return the ``torch.nn.Module`` for ``spec``, untrained, in eval mode, on the CPU.

    Its heads follow the spec's prior levels (boxes per location) and its ``priors`` buffer is
    ``spec.priors()``. Raises :class:`SsdEdgeError` when the levels do not fit the net.
    """
    anchors = [lv.boxes_per_location for lv in spec.prior_levels]
    net = build_layers(spec.arch, spec.num_classes, anchors, spec.activation, spec.width_mult)
    if len(anchors) != net.num_maps:
        raise SsdEdgeError("expected %d prior levels for %s (one per feature map), got %d"
                           % (net.num_maps, spec.arch, len(anchors)))
    net.center_variance = float(spec.center_variance)
    net.size_variance = float(spec.size_variance)
    net.priors = torch.from_numpy(spec.priors())
    return net.eval()


def measure_map_sizes(arch, resolution, activation=None, width_mult=1.0):
    """Return the side of every feature map ``arch`` produces for a square input.

    Raises :class:`SsdEdgeError` naming the sizes that work when the net cannot take it.
    """
    levels = specs.table_levels(arch)
    net = build_layers(arch, 2, [lv.boxes_per_location for lv in levels], activation,
                       width_mult, meta=True).eval()
    sizes = _try_sizes(net, resolution)
    if sizes is None:
        low = _smallest_size(net)
        raise SsdEdgeError("%s cannot take a %d×%d input; expected a size of at least %d pixels "
                           "(every feature map must stay at least 1×1)"
                           % (arch, resolution, resolution, low))
    return sizes


def build_spec(arch, labels, resolution=specs.TABLE_SIZE, activation=None, width_mult=1.0):
    """Return the :class:`DetectorSpec` of ``arch`` at ``resolution``×``resolution``.

    At 300 it is pytorch-ssd's table (:func:`ssd_edge.models.specs.default_spec`); elsewhere the
    levels follow docs/architecture.md §4 (measured map sizes, ``shrinkage = size / map``, box sizes
    × size/300, the table's aspect ratios).

    Args:
        labels: class names with ``BACKGROUND`` first, or the class count (background included).
    """
    resolution = _check_resolution(resolution)
    table = specs.table_levels(arch)
    maps = measure_map_sizes(arch, resolution, activation, width_mult)
    if resolution == specs.TABLE_SIZE:
        got = [lv.feature_map_size for lv in table]
        if maps != got:  # a bug in a builder, not a user error
            raise AssertionError("%s at 300 produces maps %s, table says %s" % (arch, maps, got))
        return specs.default_spec(arch, labels, resolution, activation, width_mult)
    levels = [specs.scaled_level(lv, m, resolution) for lv, m in zip(table, maps)]
    return specs.spec_for_levels(arch, labels, resolution, levels, activation, width_mult)


def _check_resolution(resolution):
    try:
        value = int(resolution)
    except (TypeError, ValueError):
        value = None
    if value is None or value != resolution or value <= 0:
        raise SsdEdgeError("expected the input resolution as a positive int (pixels per side), "
                           "got %r" % (resolution,))
    return value


def _try_sizes(net, resolution):
    """Square map sides for ``resolution``, or None when a layer cannot take it."""
    try:
        shapes = net.feature_map_sizes(resolution)
    except (RuntimeError, ValueError):
        return None
    if any(h < 1 or w < 1 or h != w for h, w in shapes):
        return None
    return [h for h, _ in shapes]


def _smallest_size(net):
    """Smallest input side the net accepts (bisection; acceptance is monotone in the size)."""
    lo, hi = 1, _PROBE_LIMIT
    if _try_sizes(net, hi) is None:
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if _try_sizes(net, mid) is None:
            lo = mid + 1
        else:
            hi = mid
    return lo
