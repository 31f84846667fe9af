"""Open a model artifact and read the :class:`~ssd_edge.spec.DetectorSpec` it carries.

Where the spec lives, per kind:

* ``.onnx`` (also ``.fp16.onnx`` / ``.int8.onnx``): ``metadata_props["ssd_edge.spec"]``, read by
  :mod:`ssd_edge.runtime.onnxinfo` without the ``onnx`` package;
* ``.ort`` (ONNX Runtime's format): the same key in the session's ``modelmeta``;
* ``.engine`` / ``.plan``: the sidecar ``<engine>.json`` (key ``"spec"``) written beside the plan;
* ``.pth`` / ``.pt``: :func:`ssd_edge.models.load_checkpoint` (net detected from the keys, or a
  ``<checkpoint>.spec.json`` beside it).

A foreign ONNX model (pytorch-ssd's exporter, someone else's tool) has no spec; ``labels`` and
``net`` then build one from the zoo's defaults, and ``mean``/``std`` override its normalisation.
"""
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import SsdEdgeError, missing_extra
from ..spec import DetectorSpec
from .onnxinfo import OnnxInfo, read_onnx_info
from .safety import check_external_data
from .validate import check_sidecar, check_spec_against_graph

log = logging.getLogger("ssd_edge.runtime")

SPEC_KEY = "ssd_edge.spec"
NMS_OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
_KINDS = {".onnx": "onnx", ".ort": "ort", ".engine": "engine", ".plan": "engine",
          ".pth": "pth", ".pt": "pth"}
_QDQ = frozenset(["QuantizeLinear", "DequantizeLinear"])


@dataclass(frozen=True)
class Artifact:
    """A model file and everything read from it before a backend opens it.

    Attributes:
        path: the file.
        kind: ``"onnx"``, ``"ort"``, ``"engine"`` or ``"pth"``.
        spec: the detector spec (with any overrides applied).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` of the artifact's weights/compute.
        onnx: graph names, shapes and op types (``.onnx`` only).
        sidecar: the engine's sidecar dict (``.engine`` only).
        model: the loaded ``nn.Module`` (``.pth`` only; the torch backend takes it).
        foreign: True when the spec was built from ``labels``/``net`` instead of the file.
    """

    path: str
    kind: str
    spec: DetectorSpec
    precision: str
    onnx: Optional[OnnxInfo] = None
    sidecar: Optional[dict] = None
    model: Any = field(default=None, compare=False, repr=False)
    foreign: bool = False

    @property
    def has_nms(self):
        """True when the graph's outputs are the four NMS outputs (DESIGN.md §3)."""
        if self.onnx is not None:
            return set(NMS_OUTPUTS) <= {t.name for t in self.onnx.outputs}
        return self.spec.output_layout == "nms"


def artifact_kind(path):
    """Return the artifact kind from the file name, or raise naming the kinds accepted."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    kind = _KINDS.get(ext)
    if kind is None:
        raise SsdEdgeError("expected a model file ending in .onnx, .ort, .engine or .pth, got %r"
                           % os.path.basename(os.fspath(path)))
    return kind


def open_artifact(path, labels=None, net=None, mean=None, std=None):
    """Read ``path``'s spec and metadata; see the module docstring for where each kind keeps it.

    Args:
        labels: class names (a ``labels.txt`` path or a sequence; ``BACKGROUND`` is prepended
            when missing) — required for a foreign ONNX model, else a rename of the same count.
        net: zoo architecture name (``mb1-ssd`` …) for a foreign ONNX model or a ``.pth``.
        mean, std: per-channel normalisation overriding the spec's (3 floats, 0..255 scale).
    """
    path = os.fspath(path)
    kind = artifact_kind(path)
    if not os.path.isfile(path):
        raise SsdEdgeError("expected a model file at %s, got nothing there (not found); check "
                           "the path" % path)
    labels = read_labels(labels) if labels is not None else None
    if kind == "pth":
        return _open_pth(path, labels, net, mean, std)
    info, sidecar, meta = None, None, {}
    if kind == "onnx":
        info = read_onnx_info(path)
        check_external_data(path)       # before any backend follows a location out of the folder
        meta = info.metadata
    elif kind == "ort":
        meta = _ort_metadata(path)
    else:
        sidecar = read_sidecar(path)
        # An engine built from a foreign ONNX has "spec": null; labels/net then describe it.
        meta = {SPEC_KEY: sidecar["spec"]} if sidecar["spec"] is not None else {}
    foreign = SPEC_KEY not in meta
    if foreign:
        spec = _foreign_spec(path, info, labels, net)
    else:
        spec = _parse_spec(meta[SPEC_KEY], path)
    spec = _apply_overrides(spec, labels, net, mean, std, path, foreign)
    check_spec_against_graph(spec, info, path, priors=not foreign)
    precision = _precision(spec, info, path, sidecar)
    return Artifact(path, kind, spec, precision, info, sidecar, None, foreign)


def read_labels(labels):
    """Return labels as a tuple starting with ``BACKGROUND``.

    Args:
        labels: path to a ``labels.txt`` (one name per line; pytorch-ssd's has ``BACKGROUND``
            first, a dataset root's does not) or a sequence of names.
    """
    if isinstance(labels, (str, os.PathLike)):
        from ..models.labels import read_labels as read_file   # no torch; one reader for all
        names = list(read_file(labels))
    else:
        names = [str(n) for n in labels]
    if not names:
        raise SsdEdgeError("expected at least one class name in the labels, got none")
    if names[0] != "BACKGROUND":
        names.insert(0, "BACKGROUND")
    return tuple(names)


def read_sidecar(engine_path):
    """Return the sidecar dict of a TensorRT plan (``<engine>.json``)."""
    side = engine_path + ".json"
    if not os.path.isfile(side):
        raise SsdEdgeError("expected the sidecar %s beside the engine (written when the engine is "
                           "built), got none; rebuild the engine with ssd-export" % side)
    try:
        with open(side, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise SsdEdgeError("cannot read engine sidecar %s: %s" % (side, str(e)[:200]))
    if not isinstance(data, dict) or "spec" not in data:
        raise SsdEdgeError("expected a JSON object with a \"spec\" field in %s, got %s; rebuild "
                           "the engine with ssd-export" % (side, type(data).__name__
                                                           if not isinstance(data, dict)
                                                           else "fields %s" % sorted(data)))
    check_sidecar(data, side)
    return data


def _parse_spec(raw, path):
    try:
        if isinstance(raw, dict):
            return DetectorSpec.from_dict(raw)
        return DetectorSpec.from_json(raw)
    except SsdEdgeError as e:
        raise SsdEdgeError("%s: %s" % (os.path.basename(path), e))


def _ort_metadata(path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise missing_extra("onnxruntime", "ort")
    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types for unreadable files
        raise SsdEdgeError("expected an ONNX Runtime .ort model in %s, got a file ONNX Runtime "
                           "cannot load (%s)" % (path, str(e).splitlines()[0] if str(e) else e))
    return dict(sess.get_modelmeta().custom_metadata_map)


def _open_pth(path, labels, net, mean, std):
    try:
        import torch  # noqa: F401  (the zoo imports it lazily; fail here with the extra's name)
    except ImportError:
        raise missing_extra("torch", "export")
    try:
        from ..models import load_checkpoint
    except ImportError as e:
        raise SsdEdgeError("loading a .pth needs the model zoo (ssd_edge.models), which this "
                           "installation lacks (%s); export the model to ONNX instead" % e)
    model, spec = load_checkpoint(path, labels=list(labels) if labels else None, net=net)
    if mean is not None or std is not None:
        spec = _apply_overrides(spec, None, None, mean, std, path, True)
    return Artifact(path, "pth", spec, spec.precision, None, None, model, False)


def _foreign_spec(path, info, labels, net):
    """Build a spec for an ONNX model without ``ssd_edge.spec`` metadata from labels + net."""
    name = os.path.basename(path)
    if labels is None or net is None:
        raise SsdEdgeError(
            "%s carries no ssd_edge spec metadata (not exported by ssd-export); expected labels "
            "and net to describe it, got %s; pass --labels labels.txt --net NET (API: labels=, "
            "net=) or re-export it with ssd-export" % (name, "neither" if labels is None and net
                                                      is None else "only one"))
    try:
        from ..models import default_spec
    except ImportError as e:
        raise SsdEdgeError("describing a foreign ONNX model by --net needs the model zoo "
                           "(ssd_edge.models: %s); re-export the model with ssd-export, which "
                           "embeds its spec" % e)
    spec = default_spec(net, list(labels))
    changes = {}
    if info is not None and info.inputs:
        shape = info.inputs[0].shape
        if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
            # The graph's fixed input size wins over the zoo default (forks export 512, 640 …).
            changes["input_size"] = (shape[2], shape[3])
        if set(NMS_OUTPUTS) <= {t.name for t in info.outputs}:
            changes["output_layout"] = "nms"
        _check_class_count(info, labels, name)
    return spec.replace(**changes) if changes else spec


def _check_class_count(info, labels, name):
    for t in info.outputs:
        if t.name == "scores" and len(t.shape) == 3 and isinstance(t.shape[2], int):
            if t.shape[2] != len(labels):
                raise SsdEdgeError("%s has %d classes (scores [B, P, %d]) but the labels list %d "
                                   "(BACKGROUND included); pass the labels.txt it was trained "
                                   "with" % (name, t.shape[2], t.shape[2], len(labels)))


def _apply_overrides(spec, labels, net, mean, std, path, foreign):
    changes = {}
    name = os.path.basename(path)
    if labels is not None and tuple(labels) != spec.labels:
        if len(labels) != len(spec.labels):
            raise SsdEdgeError("%s has %d classes but the labels list %d (BACKGROUND included); "
                               "pass labels with %d names or none" % (name, len(spec.labels),
                                                                    len(labels), len(spec.labels)))
        changes["labels"] = tuple(labels)
    if net is not None and not foreign and net != spec.arch:
        raise SsdEdgeError("%s is a %s model (from its embedded spec), got --net %r; drop --net, "
                           "which only describes foreign ONNX models" % (name, spec.arch, net))
    for key, value in (("mean", mean), ("std", std)):
        if value is not None:
            value = tuple(float(v) for v in value)
            if len(value) != 3:
                raise SsdEdgeError("expected 3 %s values (one per channel), got %d"
                                   % (key, len(value)))
            changes[key] = value
    if changes and not foreign:
        log.warning("%s: overriding its embedded spec: %s", name, ", ".join(sorted(changes)))
    return spec.replace(**changes) if changes else spec


def _precision(spec, info, path, sidecar):
    """The artifact's precision: the spec's unless the graph or file name says more."""
    if sidecar is not None and sidecar.get("precision") in ("fp32", "fp16", "int8"):
        return sidecar["precision"]
    if spec.precision != "fp32":
        return spec.precision
    if info is not None and info.op_types & _QDQ:
        return "int8"
    base = os.path.basename(path).lower()
    if ".int8." in base:
        return "int8"
    if ".fp16." in base or (info is not None and info.inputs and info.inputs[0].dtype == "float16"):
        return "fp16"
    return "fp32"
