"""Describe an ONNX model that carries no ssd-edge spec (a "foreign" file).

pytorch-ssd's exporter, UltraFace's published files and jetson-inference users' exports all end
in decoded outputs — ``scores [B, P, C]`` softmax and ``boxes [B, P, 4]`` corner form in [0, 1]
— so running them needs no net and no priors: the class names, the normalisation and the input
size (read from the graph) are the whole description. With ``net`` the zoo's spec for that net
is used instead (priors included, e.g. to re-export with NMS in the graph).

One builder for the runtime and ssd-export. No torch and no ``onnx`` package here: the graph
is described by an :class:`~ssd_edge.onnxinfo.OnnxInfo`-like value (``inputs`` /
``outputs`` with ``name`` and ``shape``), and the zoo's tables in :mod:`ssd_edge.models.specs`
need no torch.
"""
from ..contract import DECODED_OUTPUTS, NMS_OUTPUTS
from ..errors import SsdEdgeError
from ..spec import DetectorSpec

#: The arch name a spec built without a net carries.
FOREIGN_ARCH = "foreign"


def foreign_spec(name, info, labels, net=None, mean=None, std=None):
    """Return the :class:`DetectorSpec` of a foreign ONNX model.

    Args:
        name: the file's name, for messages.
        info: its :class:`~ssd_edge.onnxinfo.OnnxInfo` (one image input ``[B, 3, H, W]``
            with fixed H, W; outputs ``scores``/``boxes`` or the four NMS outputs).
        labels: class names, ``BACKGROUND`` first (required).
        net: a zoo arch name, or None for a spec without prior levels.
        mean, std: per-channel normalisation on 0..255 RGB values (required without ``net``;
            with ``net`` they override the zoo's).
    Raises :class:`SsdEdgeError` (one line, expected vs got) for anything missing or not fitting.
    """
    if labels is None:
        raise SsdEdgeError("%s carries no ssd_edge spec metadata (not exported by ssd-export); "
                           "expected its class names, got none; pass --labels labels.txt (API: "
                           "labels=) with --mean/--std, or --net NET" % name)
    outputs = {t.name: t for t in info.outputs}
    layout = "nms" if set(NMS_OUTPUTS) <= set(outputs) else "decoded"
    if layout == "decoded" and not set(DECODED_OUTPUTS) <= set(outputs):
        raise SsdEdgeError("expected %s to output 'scores' [B, P, C] and 'boxes' [B, P, 4] "
                           "(pytorch-ssd's decoded layout) or the four NMS outputs, got %s"
                           % (name, ", ".join(sorted(outputs)) or "none"))
    size = input_size_of(name, info)
    if net is not None:
        spec = _zoo_spec(net, labels, size)
    else:
        if mean is None or std is None:
            raise SsdEdgeError("%s has no ssd_edge spec and no --net; expected --mean and --std "
                               "(the normalisation it was trained with, e.g. 127,127,127 and "
                               "128,128,128), got %s" % (name, "neither" if mean is None and std
                                                         is None else "only one"))
        spec = DetectorSpec(arch=FOREIGN_ARCH, labels=tuple(labels), input_size=size,
                            prior_levels=(), mean=tuple(mean), std=tuple(std))
    if layout == "decoded":
        _check_decoded(name, outputs, spec)
    return spec.replace(output_layout=layout)


def input_size_of(name, info):
    """``(H, W)`` of the model's single image input, or raise saying what was found."""
    if len(info.inputs) != 1:
        raise SsdEdgeError("expected %s to have one image input, got %d (%s)"
                           % (name, len(info.inputs), ", ".join(t.name for t in info.inputs)))
    shape = info.inputs[0].shape
    if len(shape) != 4 or shape[1] != 3 or not all(isinstance(d, int) and d > 0
                                                   for d in shape[2:]):
        raise SsdEdgeError("expected %s's input %r to be [B, 3, H, W] with fixed H and W, got %s"
                           % (name, info.inputs[0].name, list(shape)))
    return (int(shape[2]), int(shape[3]))


def _zoo_spec(net, labels, size):
    """The zoo's spec for ``net`` at the graph's input size (its priors where it can give them)."""
    from .specs import ULTRAFACE_ARCHS, default_spec
    if net in ULTRAFACE_ARCHS:
        return default_spec(net, list(labels), size)
    spec = default_spec(net, list(labels))
    if spec.input_size != size:
        # pytorch-ssd forks export 512, 640 ...: the graph's size wins. Its outputs are decoded,
        # so running it needs no priors; the 300 table's would be wrong, so none are kept.
        spec = spec.replace(input_size=size, prior_levels=())
    return spec


def _check_decoded(name, outputs, spec):
    scores, boxes = outputs["scores"].shape, outputs["boxes"].shape
    if len(scores) != 3 or len(boxes) != 3 or boxes[2] not in (4, None, "?") and \
            isinstance(boxes[2], int):
        raise SsdEdgeError("expected %s's scores [B, P, C] and boxes [B, P, 4], got %s and %s"
                           % (name, list(scores), list(boxes)))
    if isinstance(scores[2], int) and scores[2] != spec.num_classes:
        raise SsdEdgeError("%s has %d classes (scores [B, P, %d]) but the labels list %d "
                           "(BACKGROUND included); pass the labels.txt it was trained with"
                           % (name, scores[2], scores[2], spec.num_classes))
    if spec.prior_levels and isinstance(scores[1], int) and scores[1] != spec.num_priors:
        raise SsdEdgeError("%s outputs %d priors but %s at %dx%d (WxH) has %d; pass the net it "
                           "was exported from, or drop --net and give --mean/--std"
                           % (name, scores[1], spec.arch, spec.input_size[1], spec.input_size[0],
                              spec.num_priors))
