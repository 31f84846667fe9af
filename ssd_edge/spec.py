"""DetectorSpec: the one description of a detector that every artifact carries.

The same frozen object builds the model, is embedded in every exported file (ONNX
``metadata_props["ssd_edge.spec"]``, the engine sidecar, ``<checkpoint>.spec.json``) and
configures the runtime's pre- and post-processing. Nothing downstream re-derives what it says.

Sizes: ``input_size`` is ``(H, W)`` of the network input tensor.
"""
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Tuple

from .errors import SsdEdgeError

SCHEMA_VERSION = 1
OUTPUT_LAYOUTS = ("decoded", "nms")
PRECISIONS = ("fp32", "fp16", "int8")
ACTIVATIONS = ("relu", "relu6")


@dataclass(frozen=True)
class PriorLevel:
    """One feature map's priors, as pytorch-ssd's ``SSDSpec``.

    Attributes:
        feature_map_size: side of the square feature map (e.g. 19).
        shrinkage: input pixels per cell; centres are ``(i + 0.5) / (image_size / shrinkage)``.
        min_size, max_size: box sizes in input pixels.
        aspect_ratios: extra ratios r; each adds a ``(√r, 1/√r)`` and a ``(1/√r, √r)`` box.
    """

    feature_map_size: int
    shrinkage: float
    min_size: float
    max_size: float
    aspect_ratios: Tuple[float, ...] = (2.0, 3.0)

    @property
    def boxes_per_location(self):
        return 2 + 2 * len(self.aspect_ratios)


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
        """Side of the square input in pixels (pytorch-ssd's ``image_size``)."""
        return self.input_size[0]

    @property
    def num_priors(self):
        return sum(lv.feature_map_size ** 2 * lv.boxes_per_location for lv in self.prior_levels)

    def priors(self):
        """Return ``(P, 4) float32`` centre-form priors ``(cx, cy, w, h)`` in [0, 1]."""
        from .priors import generate_priors
        return generate_priors(self.prior_levels, self.image_size, self.clamp)

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
        _expect(len(self.input_size) == 2 and min(self.input_size) > 0,
                "input_size (H, W) of positive ints", self.input_size)
        _expect(self.input_size[0] == self.input_size[1],
                "a square input_size (SSD priors are defined on a square image)", self.input_size)
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
        _expect(len(self.prior_levels) > 0, "at least one prior level", len(self.prior_levels))
        for i, lv in enumerate(self.prior_levels):
            _expect(lv.feature_map_size > 0 and lv.shrinkage > 0 and 0 < lv.min_size <= lv.max_size,
                    "prior level %d with positive map size, shrinkage and min <= max" % i, lv)
            _expect(all(r > 0 for r in lv.aspect_ratios), "positive aspect ratios", lv)
        n = self.nms
        _expect(0 <= n.conf_threshold <= 1 and 0 < n.iou_threshold <= 1,
                "conf_threshold in [0, 1] and iou_threshold in (0, 1]", n)
        _expect(n.candidate_size > 0, "candidate_size > 0", n.candidate_size)

    # ------------------------------------------------------------------ JSON
    def to_dict(self):
        d = asdict(self)
        for lv in d["prior_levels"]:
            lv["aspect_ratios"] = list(lv["aspect_ratios"])
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
    lv = _from_dict(PriorLevel, d, "prior level")
    return replace(lv, aspect_ratios=tuple(float(r) for r in lv.aspect_ratios))


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
