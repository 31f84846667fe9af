"""Open a model artifact and read the :class:`~ssd_edge.spec.DetectorSpec` it carries.

Where the spec lives, per kind:

* ``.onnx`` (also ``.fp16.onnx`` / ``.int8.onnx``): ``metadata_props["ssd_edge.spec"]``, read by
  :mod:`ssd_edge.onnxinfo` without the ``onnx`` package;
* ``.ort`` (ONNX Runtime's format): the same key in the session's ``modelmeta``;
* ``.engine`` / ``.plan``: the sidecar ``<engine>.json`` (key ``"spec"``) written beside the plan;
* ``.tflite`` (LiteRT) / ``.ncnn.param`` (ncnn): see :mod:`ssd_edge.mobileinfo`;
* ``.pth`` / ``.pt``: :func:`ssd_edge.models.load_checkpoint` (net detected from the keys, or a
  ``<checkpoint>.spec.json`` beside it);
* ``triton://HOST:PORT/NAME``: the served model's config (:mod:`ssd_edge.runtime.triton_spec`).

A foreign ONNX model (pytorch-ssd's exporter, UltraFace's published files, someone else's tool)
has no spec; ``labels`` with ``mean``/``std`` describe one with decoded outputs, or ``labels``
and ``net`` build one from the zoo's defaults (:mod:`ssd_edge.models.foreign`).
"""
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..contract import PRECISIONS, QDQ_OPS, SPEC_KEY, has_nms_outputs, require_sidecar
from ..errors import SsdEdgeError, missing_extra
from ..labels import model_labels as read_labels  # noqa: F401  (this module's old name)
from ..spec import DetectorSpec
from .backends.registry import ARTIFACT_KINDS, load_target
from ..onnxinfo import OnnxInfo, read_onnx_info
from ..safety import check_external_data
from ..validate import check_spec_against_graph

log = logging.getLogger("ssd_edge.runtime")


def find_kind(path):
    """The :class:`ArtifactKind` whose suffix or URL prefix matches ``path``, or None."""
    name = os.fspath(path)
    low = name.lower()
    best, size = None, 0
    for entry in ARTIFACT_KINDS:
        for s in entry.suffixes:
            hit = low.startswith(s) if entry.url else low.endswith(s)
            if hit and len(s) > size:
                best, size = entry, len(s)
    return best


@dataclass(frozen=True)
class Artifact:
    """A model file and everything read from it before a backend opens it.

    Attributes:
        path: the file (or the ``triton://`` URL).
        kind: ``"onnx"``, ``"ort"``, ``"engine"``, ``"pth"``, ``"tflite"``, ``"ncnn"`` or
            ``"triton"``.
        spec: the detector spec (with any overrides applied).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` of the artifact's weights/compute.
        onnx: graph names, shapes and op types (``.onnx`` only).
        sidecar: the engine's sidecar dict (``.engine``); for ``triton``, ``{"nms", "triton":
            {"url", "role", "config"}}`` read from the server.
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
        """True when the graph's outputs are the four NMS outputs (docs/architecture.md §3)."""
        if self.onnx is not None:
            return has_nms_outputs(t.name for t in self.onnx.outputs)
        return self.spec.output_layout == "nms"


def artifact_kind(path):
    """Return the artifact kind from the file name, or raise naming the kinds accepted."""
    entry = find_kind(path)
    if entry is None:
        accepted = [k.suffixes[0] for k in ARTIFACT_KINDS if not k.url]
        raise SsdEdgeError("expected a model file ending in %s or %s, got %r"
                           % (", ".join(accepted[:-1]), accepted[-1],
                              os.path.basename(os.fspath(path))))
    return entry.kind


def open_artifact(path, labels=None, net=None, mean=None, std=None, resolution=None):
    """Read ``path``'s spec and metadata; see the module docstring for where each kind keeps it.

    Args:
        labels: class names (a ``labels.txt`` path or a sequence; ``BACKGROUND`` is prepended
            when missing) — required for a foreign ONNX model, else a rename of the same count.
        net: zoo architecture name (``mb1-ssd`` …) for a foreign ONNX model or a ``.pth``.
        mean, std: per-channel normalisation overriding the spec's (3 floats, 0..255 scale).
        resolution: input size of a ``.pth`` (``N`` or ``"WxH"``); other files fix their own.
    """
    path = os.fspath(path)
    kind = artifact_kind(path)
    entry = find_kind(path)
    if entry.opener is not None:
        return load_target(entry.opener)(
            path, labels=read_labels(labels) if labels is not None else None, mean=mean, std=std)
    if not entry.url and not os.path.isfile(path):
        raise SsdEdgeError("expected a model file at %s, got nothing there (not found); check "
                           "the path" % path)
    labels = read_labels(labels) if labels is not None else None
    if kind == "pth":
        return _open_pth(path, labels, net, mean, std, resolution)
    if resolution is not None:
        raise SsdEdgeError("expected no resolution for %s: an exported file fixes its input size "
                           "(re-export the checkpoint with --resolution)" % os.path.basename(path))
    info, sidecar, meta = None, None, {}
    if kind == "onnx":
        info = read_onnx_info(path)
        check_external_data(path)       # before any backend follows a location out of the folder
        meta = info.metadata
    elif kind == "ort":
        meta = _ort_metadata(path)
    elif entry.reader is not None:
        meta, sidecar = load_target(entry.reader)(path)
    else:
        sidecar = require_sidecar(path)
        # An engine built from a foreign ONNX has "spec": null; labels/net then describe it.
        meta = {SPEC_KEY: sidecar["spec"]} if sidecar["spec"] is not None else {}
    foreign = SPEC_KEY not in meta
    if foreign:
        spec = _foreign_spec(path, info, labels, net, mean, std)
    else:
        spec = _parse_spec(meta[SPEC_KEY], path)
    spec = _apply_overrides(spec, labels, net, mean, std, path, foreign)
    check_spec_against_graph(spec, info, path, priors=not foreign)
    precision = _precision(spec, info, path, sidecar)
    return Artifact(path, kind, spec, precision, info, sidecar, None, foreign)


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


def _open_pth(path, labels, net, mean, std, resolution=None):
    try:
        import torch  # noqa: F401  (the zoo imports it lazily; fail here with the extra's name)
    except ImportError:
        raise missing_extra("torch", "export")
    try:
        from ..models import load_checkpoint
    except ImportError as e:
        raise SsdEdgeError("loading a .pth needs the model zoo (ssd_edge.models), which this "
                           "installation lacks (%s); export the model to ONNX instead" % e)
    model, spec = load_checkpoint(path, labels=list(labels) if labels else None, net=net,
                                  resolution=resolution)
    if mean is not None or std is not None:
        spec = _apply_overrides(spec, None, None, mean, std, path, True)
    return Artifact(path, "pth", spec, spec.precision, None, None, model, False)


def _foreign_spec(path, info, labels, net, mean, std):
    """Build a spec for an ONNX model without ``ssd_edge.spec`` metadata."""
    from ..models.foreign import foreign_spec   # the zoo's tables; no torch
    name = os.path.basename(path)
    if info is None:
        # An engine built from a foreign ONNX: its sidecar has "spec": null and no graph to read.
        if labels is None or net is None:
            raise SsdEdgeError("%s was built from an ONNX without ssd_edge metadata; expected "
                               "labels and net to describe it, got %s; pass --labels labels.txt "
                               "--net NET or rebuild it from an ssd-export ONNX"
                               % (name, "neither" if labels is None and net is None
                                  else "only one"))
        from ..models.specs import default_spec
        return default_spec(net, list(labels))
    return foreign_spec(name, info, labels, net, mean, std)


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
    if sidecar is not None and sidecar.get("precision") in PRECISIONS:
        return sidecar["precision"]
    if spec.precision != "fp32":
        return spec.precision
    if info is not None and info.op_types & QDQ_OPS:
        return "int8"
    base = os.path.basename(path).lower()
    if ".int8." in base:
        return "int8"
    if ".fp16." in base or (info is not None and info.inputs and info.inputs[0].dtype == "float16"):
        return "fp16"
    return "fp32"
