"""The spec of a foreign ONNX (no ``ssd_edge.spec`` metadata): one builder for the runtime and
ssd-export.

A graph exported by pytorch-ssd's own exporter (or another tool) carries no spec; the user names
the zoo net and the labels, and the graph's own shapes say the rest (a fixed input size, the NMS
layout) and are checked against them (class count, prior count). No torch: the zoo's tables in
:mod:`ssd_edge.models.specs` suffice.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

from ..contract import DECODED_OUTPUTS, has_nms_outputs
from ..errors import SsdEdgeError
from ..spec import DetectorSpec
from .specs import default_spec

Dim = Union[int, str, None]


def foreign_spec(name, labels, net, input_shape=None, outputs=None):
    # type: (str, Optional[Sequence[str]], Optional[str], Optional[Sequence[Dim]], Optional[Dict[str, Sequence[Dim]]]) -> DetectorSpec
    """Build and check the spec of a foreign ONNX graph.

    Args:
        name: the file, for messages.
        labels: class names, ``BACKGROUND`` first (:func:`ssd_edge.labels.model_labels`).
        net: zoo architecture name (``mb1-ssd`` …).
        input_shape: the first input's dims ``[B, 3, H, W]`` (ints, or names / None when
            dynamic); a fixed ``H, W`` wins over the zoo's 300 (forks export 512, 640 …).
        outputs: output name → dims; the four NMS outputs make the layout ``nms``, otherwise
            ``scores [B, P, C]`` and ``boxes [B, P, 4]`` must be there and agree with the labels
            (C) and, at the zoo's own input size, with its priors (P).
    """
    if labels is None or net is None:
        raise SsdEdgeError(
            "%s carries no ssd_edge spec metadata (not exported by ssd-export); expected labels "
            "and net to describe it, got %s; pass --labels labels.txt --net NET (API: labels=, "
            "net=) or re-export it with ssd-export" % (name, "neither" if labels is None and net
                                                      is None else "only one"))
    spec = default_spec(net, list(labels))
    changes = {}
    if input_shape is not None and len(input_shape) == 4 and all(
            isinstance(d, int) and d > 0 for d in input_shape[2:]):
        changes["input_size"] = (int(input_shape[2]), int(input_shape[3]))
    if outputs is not None:
        if has_nms_outputs(outputs):
            changes["output_layout"] = "nms"
        else:
            _check_decoded(name, spec, outputs, labels, net,
                           changes.get("input_size", spec.input_size) == spec.input_size)
    return spec.replace(**changes) if changes else spec


def _check_decoded(name, spec, outputs, labels, net, same_size):
    # type: (str, DetectorSpec, Dict[str, Sequence[Dim]], Sequence[str], str, bool) -> None
    if not set(DECODED_OUTPUTS) <= set(outputs):
        raise SsdEdgeError("expected outputs 'scores' and 'boxes' in %s, got %s"
                           % (name, ", ".join(outputs)))
    dims = tuple(outputs["scores"])  # type: Tuple[Dim, ...]
    if len(dims) != 3:
        return
    p, c = dims[1], dims[2]
    if isinstance(c, int) and c != len(labels):
        raise SsdEdgeError("%s has %d classes (scores [B, P, %d]) but the labels list %d "
                           "(BACKGROUND included); pass the labels.txt it was trained with"
                           % (name, c, c, len(labels)))
    if same_size and isinstance(p, int) and p != spec.num_priors:
        raise SsdEdgeError("%s outputs %d priors but %s at %dx%d has %d; pass the --net it was "
                           "trained as" % (name, p, net, spec.input_size[0], spec.input_size[1],
                                           spec.num_priors))
