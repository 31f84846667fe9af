"""The zoo's tables: prior levels and normalisation of every pytorch-ssd net at 300×300.

No torch here: the runtime (and anything else without torch) builds a net's
:class:`~ssd_edge.spec.DetectorSpec` from these tables. They are the only copy in the package
(docs/architecture.md §5, "one spec, no copies"); the torch builders in this package and
:func:`ssd_edge.models.build_spec` read them from here.

Values are pytorch-ssd's (``vision/ssd/config/*.py``, upstream HEAD 7a839cb): mean/std apply to
0..255 RGB pixels as ``(x - mean) / std``; a level is ``(feature map size, shrinkage,
min size, max size, aspect ratios)`` in input pixels at 300. ``resnet50-ssd`` (not a
pytorch-ssd net) takes NVIDIA's SSD300-ResNet50 values: ImageNet normalisation and the COCO
SSD300 scales.
"""
from typing import Sequence, Union

from ..errors import SsdEdgeError
from ..spec import DetectorSpec, PriorLevel
from .labels import BACKGROUND, default_labels

#: The resolution the tables below are defined at (pytorch-ssd's ``image_size``).
TABLE_SIZE = 300

_MOBILENET_LEVELS = (
    PriorLevel(19, 16, 60, 105, (2.0, 3.0)),
    PriorLevel(10, 32, 105, 150, (2.0, 3.0)),
    PriorLevel(5, 64, 150, 195, (2.0, 3.0)),
    PriorLevel(3, 100, 195, 240, (2.0, 3.0)),
    PriorLevel(2, 150, 240, 285, (2.0, 3.0)),
    PriorLevel(1, 300, 285, 330, (2.0, 3.0)),
)
# squeezenet_ssd_config: the mobilenet table with a 17×17 first map (same shrinkage 16).
_SQUEEZENET_LEVELS = (PriorLevel(17, 16, 60, 105, (2.0, 3.0)),) + _MOBILENET_LEVELS[1:]
_VGG_LEVELS = (
    PriorLevel(38, 8, 30, 60, (2.0,)),
    PriorLevel(19, 16, 60, 111, (2.0, 3.0)),
    PriorLevel(10, 32, 111, 162, (2.0, 3.0)),
    PriorLevel(5, 64, 162, 213, (2.0, 3.0)),
    PriorLevel(3, 100, 213, 264, (2.0,)),
    PriorLevel(1, 300, 264, 315, (2.0,)),
)
# NVIDIA DeepLearningExamples dboxes300_coco (the COCO SSD300 scales 21, 45, 99, 153, 207, 261,
# 315; the vgg table above is the VOC one): same maps, shrinkages and ratios → 8732 priors.
_RESNET_LEVELS = (
    PriorLevel(38, 8, 21, 45, (2.0,)),
    PriorLevel(19, 16, 45, 99, (2.0, 3.0)),
    PriorLevel(10, 32, 99, 153, (2.0, 3.0)),
    PriorLevel(5, 64, 153, 207, (2.0, 3.0)),
    PriorLevel(3, 100, 207, 261, (2.0,)),
    PriorLevel(1, 300, 261, 315, (2.0,)),
)

_MOBILENET_NORM = ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
_VGG_NORM = ((123.0, 117.0, 104.0), (1.0, 1.0, 1.0))
# torchvision's ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) × 255.
_IMAGENET_NORM = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))

# arch -> (prior levels at 300, (mean, std)); the key order is the order of ARCHS.
_TABLES = {
    "vgg16-ssd": (_VGG_LEVELS, _VGG_NORM),
    "mb1-ssd": (_MOBILENET_LEVELS, _MOBILENET_NORM),
    "mb1-ssd-lite": (_MOBILENET_LEVELS, _MOBILENET_NORM),
    "mb2-ssd-lite": (_MOBILENET_LEVELS, _MOBILENET_NORM),
    "mb3-large-ssd-lite": (_MOBILENET_LEVELS, _MOBILENET_NORM),
    "mb3-small-ssd-lite": (_MOBILENET_LEVELS, _MOBILENET_NORM),
    "sq-ssd-lite": (_SQUEEZENET_LEVELS, _MOBILENET_NORM),
    "resnet50-ssd": (_RESNET_LEVELS, _IMAGENET_NORM),
}

#: Architecture names: pytorch-ssd's ``--net`` names, then the nets of our own.
ARCHS = tuple(_TABLES)

#: Nets pytorch-ssd does not have (key layouts of our own, documented in docs/models.md).
OWN_ARCHS = ("resnet50-ssd",)

#: The nets pytorch-ssd has (its ``--net`` names); their checkpoints load there unchanged.
PYTORCH_SSD_ARCHS = tuple(a for a in ARCHS if a not in OWN_ARCHS)

#: Backbone activations selectable per arch (the first is the default); None = fixed by the arch.
ACTIVATION_CHOICES = {"mb2-ssd-lite": ("relu6", "relu")}

#: Archs that take a width multiplier other than 1.0.
WIDTH_MULT_ARCHS = ("mb2-ssd-lite",)


def check_arch(arch):
    """Return ``arch`` if it is a zoo name, else raise :class:`SsdEdgeError` listing them."""
    if arch not in _TABLES:
        raise SsdEdgeError("unknown architecture %r; expected one of %s"
                           % (arch, ", ".join(ARCHS)))
    return arch


def table_levels(arch):
    """Return the prior levels of ``arch`` at 300×300 (tuple of :class:`PriorLevel`)."""
    return _TABLES[check_arch(arch)][0]


def normalisation(arch):
    """Return ``(mean, std)``, each a 3-tuple of floats applied to 0..255 RGB pixels."""
    return _TABLES[check_arch(arch)][1]


def resolve_activation(arch, activation):
    """Return the backbone activation recorded in the spec: ``"relu6"``/``"relu"`` for
    mb2-ssd-lite (default ``"relu6"``, as the published checkpoint), None for the other archs."""
    choices = ACTIVATION_CHOICES.get(check_arch(arch))
    if choices is None:
        if activation is not None:
            raise SsdEdgeError("expected no activation for %s (its activations are fixed), got %r;"
                               " only %s takes activation=relu6|relu"
                               % (arch, activation, ", ".join(ACTIVATION_CHOICES)))
        return None
    if activation is None:
        return choices[0]
    if activation not in choices:
        raise SsdEdgeError("expected activation in %s for %s, got %r"
                           % ("/".join(choices), arch, activation))
    return activation


def resolve_width_mult(arch, width_mult):
    """Return ``width_mult`` as a float, checked against what ``arch`` supports."""
    wm = 1.0 if width_mult is None else float(width_mult)
    if check_arch(arch) not in WIDTH_MULT_ARCHS and wm != 1.0:
        raise SsdEdgeError("expected width_mult 1.0 for %s (only %s has a width multiplier), "
                           "got %g" % (arch, ", ".join(WIDTH_MULT_ARCHS), wm))
    if not 0.0 < wm <= 4.0:
        raise SsdEdgeError("expected a width multiplier in (0, 4], got %g" % wm)
    return wm


def make_labels(labels):
    """Normalise ``labels``: a sequence starting with ``BACKGROUND``, or an int class count
    (background included) which becomes ``("BACKGROUND", "class1", ..., "class<N-1>")``."""
    if isinstance(labels, int):
        if labels < 2:
            raise SsdEdgeError("expected at least 2 classes (BACKGROUND and one more), got %d"
                               % labels)
        return default_labels(labels)
    labels = tuple(labels)
    if not labels or labels[0] != BACKGROUND:
        raise SsdEdgeError("expected labels with 'BACKGROUND' first (pytorch-ssd's labels.txt "
                           "layout), got %r first" % (labels[0] if labels else "nothing"))
    return labels


def spec_for_levels(arch, labels, resolution, levels, activation=None, width_mult=1.0):
    """Build the :class:`DetectorSpec` of ``arch`` with the given prior levels and input size."""
    mean, std = normalisation(arch)
    return DetectorSpec(arch=arch, labels=make_labels(labels),
                        input_size=(int(resolution), int(resolution)),
                        prior_levels=tuple(levels), mean=mean, std=std,
                        activation=resolve_activation(arch, activation),
                        width_mult=resolve_width_mult(arch, width_mult))


def default_spec(arch, labels, resolution=TABLE_SIZE, activation=None, width_mult=1.0):
    # type: (str, Union[int, Sequence[str]], int, str, float) -> DetectorSpec
    """Return pytorch-ssd's spec for ``arch`` at 300×300 (no torch needed).

    Args:
        arch: one of :data:`ARCHS`.
        labels: class names with ``BACKGROUND`` first, or the class count (background included).
        resolution: must be 300 here; other sizes need the network to measure its feature maps,
            see :func:`ssd_edge.models.build_spec`.
        activation: mb2-ssd-lite's backbone activation, ``"relu6"`` (default) or ``"relu"``.
        width_mult: mb2-ssd-lite's width multiplier.
    """
    if int(resolution) != TABLE_SIZE:
        raise SsdEdgeError("default_spec gives pytorch-ssd's %d×%d tables only, got resolution "
                           "%s; use ssd_edge.models.build_spec(arch, labels, resolution=%s)"
                           % (TABLE_SIZE, TABLE_SIZE, resolution, resolution))
    return spec_for_levels(arch, labels, TABLE_SIZE, table_levels(arch), activation, width_mult)


def scaled_level(level, feature_map_size, resolution):
    # type: (PriorLevel, int, int) -> PriorLevel
    """docs/architecture.md §4 for a size other than 300: the measured map size, ``shrinkage = size / map``
    and box sizes scaled by ``size / 300``; the aspect ratios are kept."""
    f = float(resolution) / TABLE_SIZE
    return PriorLevel(int(feature_map_size), float(resolution) / feature_map_size,
                      level.min_size * f, level.max_size * f, level.aspect_ratios)

