"""DetectorSpec: the one description of a detector that every artifact carries.

The same frozen object builds the model, is embedded in every exported file (ONNX
``metadata_props["ssd_edge.spec"]``, the engine sidecar, ``<checkpoint>.spec.json``) and
configures the runtime's pre- and post-processing. Nothing downstream re-derives what it says.

Sizes: ``input_size`` is ``(H, W)`` of the network input tensor; inputs need not be square
(UltraFace runs at 320x240). Prior levels are per axis: map size ``(H, W)``, shrinkage
``(y, x)``, and a list of minimum box sizes in input pixels.

Schema history: 1 — square inputs, one ``int`` map size, one ``float`` shrinkage and one
``min_size`` per level, ``max_size`` required. 2 — the per-axis forms above; ``max_size`` may be
null (no ``sqrt(min * max)`` box); a spec may carry no prior levels (a foreign ONNX model whose
outputs are already decoded). Schema 1 JSON reads unchanged and means the same priors.
"""
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Tuple, Union

from .contract import PRECISIONS
from .errors import SsdEdgeError

SCHEMA_VERSION = 2
OUTPUT_LAYOUTS = ("decoded", "nms")
ACTIVATIONS = ("relu", "relu6")


@dataclass(frozen=True)
class PriorLevel:
    """One feature map's priors: pytorch-ssd's ``SSDSpec`` and UltraFace's per-axis table.

    Attributes:
        feature_map_size: ``(H, W)`` cells of the feature map (an int means a square map).
        shrinkage: input pixels per cell ``(y, x)`` (a number means both); centres are
            ``(i + 0.5) / (W / shrinkage_x)`` across and ``(j + 0.5) / (H / shrinkage_y)`` down.
        min_size: square box sizes in input pixels, one prior each (a number means one box).
        max_size: adds pytorch-ssd's ``sqrt(min * max)`` square box (one min size only), or None.
        aspect_ratios: extra ratios r; each adds a ``(√r, 1/√r)`` and a ``(1/√r, √r)`` box around
            every min size.

    Box sizes are in input pixels on each axis: a ``s`` box is ``s / W`` wide and ``s / H`` high.
    """

    feature_map_size: Union[int, Tuple[int, int]]
    shrinkage: Union[float, Tuple[float, float]]
    min_size: Union[float, Tuple[float, ...]]
    max_size: Optional[float] = None
    aspect_ratios: Tuple[float, ...] = (2.0, 3.0)

    def __post_init__(self):
        object.__setattr__(self, "feature_map_size", _pair(self.feature_map_size, int))
        object.__setattr__(self, "shrinkage", _pair(self.shrinkage, float))
        sizes = self.min_size if isinstance(self.min_size, (tuple, list)) else (self.min_size,)
        object.__setattr__(self, "min_size", tuple(float(v) for v in sizes))
        if self.max_size is not None:
            object.__setattr__(self, "max_size", float(self.max_size))
        object.__setattr__(self, "aspect_ratios", tuple(float(r) for r in self.aspect_ratios))

    @property
    def boxes_per_location(self):
        n = len(self.min_size)
        return n + (1 if self.max_size is not None else 0) + 2 * n * len(self.aspect_ratios)

    @property
    def num_locations(self):
        return self.feature_map_size[0] * self.feature_map_size[1]


def _pair(value, kind):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise SsdEdgeError("invalid prior level: expected one value or an (H, W) / (y, x) "
                               "pair, got %r" % (value,))
        return (kind(value[0]), kind(value[1]))
    return (kind(value), kind(value))


@dataclass(frozen=True)
class NmsDefaults:
    """Post-processing defaults travelling with the model (the runtime may override them)."""

    conf_threshold: float = 0.4
    iou_threshold: float = 0.45
    candidate_size: int = 200
    top_k: int = -1
    max_detections: int = 200


@dataclass(frozen=True)
class DetectorSpec:
    """Everything needed to build, export and run one SSD detector.

    ``labels[0]`` is ``"BACKGROUND"``; ``num_classes == len(labels)``. ``mean``/``std`` are per
    channel in ``channel_order`` and apply to 0..255 pixel values: ``(x - mean) / std``.
    """

    arch: str
    labels: Tuple[str, ...]
    input_size: Tuple[int, int] = (300, 300)
    prior_levels: Tuple[PriorLevel, ...] = ()
    mean: Tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: Tuple[float, float, float] = (128.0, 128.0, 128.0)
    channel_order: str = "RGB"
    clamp: bool = True
    center_variance: float = 0.1
    size_variance: float = 0.2
    activation: Optional[str] = None
    activation_assumed: bool = False
    width_mult: float = 1.0
    output_layout: str = "decoded"
    nms: NmsDefaults = field(default_factory=NmsDefaults)
    precision: str = "fp32"
    source_sha256: Optional[str] = None
    schema: int = SCHEMA_VERSION

    def __post_init__(self):
        # Tuples, not lists, so the spec stays hashable and immutable after a JSON round trip.
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "prior_levels", tuple(
            lv if isinstance(lv, PriorLevel) else _level_from_dict(lv) for lv in self.prior_levels))
        if isinstance(self.nms, dict):
            object.__setattr__(self, "nms", _from_dict(NmsDefaults, self.nms, "nms"))
        self.validate()

    # ------------------------------------------------------------------ derived values
    @property
    def num_classes(self):
        return len(self.labels)

    @property
    def image_size(self):
        """Side of a square input in pixels (pytorch-ssd's ``image_size``); for a non-square
        input use ``input_size`` / ``frame_size``."""
        if self.input_size[0] != self.input_size[1]:
            raise SsdEdgeError("expected a square input for image_size, got %dx%d (W x H); use "
                               "input_size (H, W)" % (self.input_size[1], self.input_size[0]))
        return self.input_size[0]

    @property
    def frame_size(self):
        """``(W, H)`` of the network input, OpenCV's order (``cv2.resize`` takes it)."""
        return (self.input_size[1], self.input_size[0])

    @property
    def num_priors(self):
        return sum(lv.num_locations * lv.boxes_per_location for lv in self.prior_levels)

    def priors(self):
        """Return ``(P, 4) float32`` centre-form priors ``(cx, cy, w, h)`` in [0, 1]."""
        if not self.prior_levels:
            raise SsdEdgeError("this spec (%s) has no prior levels (its model's outputs are "
                               "already decoded); expected prior levels to build priors"
                               % self.arch)
        from .priors import generate_priors
        return generate_priors(self.prior_levels, self.input_size, self.clamp)

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (and validated)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ validation
    def validate(self):
        """Raise :class:`SsdEdgeError` naming the first field that is not as expected."""
        _expect(isinstance(self.schema, int) and self.schema <= SCHEMA_VERSION,
                "spec schema version <= %d" % SCHEMA_VERSION, self.schema,
                " (written by a newer ssd-edge; upgrade it)")
        _expect(isinstance(self.arch, str) and self.arch, "a non-empty arch name", self.arch)
        _expect(len(self.labels) >= 2, "at least 2 labels (BACKGROUND and one class)",
                len(self.labels))
        _expect(self.labels[0] == "BACKGROUND", "labels[0] == 'BACKGROUND'", repr(self.labels[0]))
        _expect(all(isinstance(s, str) and s for s in self.labels), "non-empty label strings",
                self.labels)
        dup = sorted({s for s in self.labels if self.labels.count(s) > 1})
        _expect(not dup, "unique label names", "%s more than once" % ", ".join(map(repr, dup)),
                " (two class ids would share one name)")
        _expect(len(self.input_size) == 2 and min(self.input_size) > 0,
                "input_size (H, W) of positive ints", self.input_size)
        _expect(len(self.mean) == 3 and len(self.std) == 3, "3 mean and 3 std values",
                (self.mean, self.std))
        _expect(all(s > 0 for s in self.std), "std values > 0", self.std)
        _expect(self.channel_order in ("RGB", "BGR"), "channel_order RGB or BGR", self.channel_order)
        _expect(self.output_layout in OUTPUT_LAYOUTS, "output_layout in %s" % (OUTPUT_LAYOUTS,),
                self.output_layout)
        _expect(self.precision in PRECISIONS, "precision in %s" % (PRECISIONS,), self.precision)
        _expect(self.activation is None or self.activation in ACTIVATIONS,
                "activation in %s or None" % (ACTIVATIONS,), self.activation)
        _expect(self.center_variance > 0 and self.size_variance > 0, "positive variances",
                (self.center_variance, self.size_variance))
        for i, lv in enumerate(self.prior_levels):
            _expect(min(lv.feature_map_size) > 0 and min(lv.shrinkage) > 0 and lv.min_size
                    and min(lv.min_size) > 0,
                    "prior level %d with positive map size, shrinkage and min sizes" % i, lv)
            _expect(lv.max_size is None or (len(lv.min_size) == 1
                                            and lv.min_size[0] <= lv.max_size),
                    "prior level %d with max_size null, or one min size <= max_size" % i, lv)
            _expect(all(r > 0 for r in lv.aspect_ratios), "positive aspect ratios", lv)
        n = self.nms
        _expect(0 <= n.conf_threshold <= 1 and 0 < n.iou_threshold <= 1,
                "conf_threshold in [0, 1] and iou_threshold in (0, 1]", n)
        _expect(n.candidate_size > 0, "candidate_size > 0", n.candidate_size)

    # ------------------------------------------------------------------ JSON
    def to_dict(self):
        """Plain JSON-ready dict, written as the current schema (tuples become lists)."""
        d = asdict(self)
        d["schema"] = SCHEMA_VERSION
        if not d["activation_assumed"]:
            del d["activation_assumed"]     # written only when true: older readers stay happy
        for lv in d["prior_levels"]:
            for key in ("feature_map_size", "shrinkage", "min_size", "aspect_ratios"):
                lv[key] = list(lv[key])
        return d

    def to_json(self, indent=None):
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise SsdEdgeError("expected a JSON object for the detector spec, got %s"
                               % type(d).__name__)
        from .spec_check import check_spec_dict   # the JSON is untrusted: types, ranges, NaN
        check_spec_dict(d)
        schema = d.get("schema", 1)
        if isinstance(schema, int) and schema < SCHEMA_VERSION:
            # Older schemas are subsets of this one (scalar level fields read as square ones).
            d = dict(d, schema=SCHEMA_VERSION)
        return _from_dict(cls, d, "spec")

    @classmethod
    def from_json(cls, text):
        try:
            d = json.loads(text)
        except ValueError as e:
            raise SsdEdgeError("expected detector spec JSON, got unparsable text (%s)" % e)
        return cls.from_dict(d)

    def save(self, path):
        """Write the spec as JSON to ``path`` atomically."""
        from .fileio import atomic_write_text
        atomic_write_text(path, self.to_json(indent=2) + "\n")

    @classmethod
    def load(cls, path):
        try:
            with open(str(path), "r", encoding="utf-8") as f:
                return cls.from_json(f.read())
        except OSError as e:
            raise SsdEdgeError("cannot read spec file %s: %s" % (path, e.strerror))


def _level_from_dict(d):
    return _from_dict(PriorLevel, d, "prior level")


def _from_dict(cls, d, what):
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(d) - names)
    if unknown:
        raise SsdEdgeError("unknown %s field(s) %s; expected only %s"
                           % (what, ", ".join(unknown), ", ".join(sorted(names))))
    try:
        return cls(**d)
    except (TypeError, ValueError, AttributeError, OverflowError) as e:
        raise SsdEdgeError("invalid %s: %s" % (what, str(e).splitlines()[0] if str(e) else e))


def _expect(ok, expected, got, hint=""):
    if not ok:
        raise SsdEdgeError("invalid detector spec: expected %s, got %s%s" % (expected, got, hint))
