"""The DetectorSpec of an ONNX given to ssd-export: from our metadata, or, for a foreign file,
from --labels with --mean/--std (or --net), as :mod:`ssd_edge.runtime.foreign` builds it."""
import os

from ..errors import SsdEdgeError
from .metadata import get_spec, load_onnx

#: The input name of every ONNX ssd-edge writes (DESIGN.md §3).
INPUT_NAME = "input_0"


def spec_for_onnx(path, labels=None, net=None, mean=None, std=None):
    """Spec stored in ``path``; for a foreign ONNX (pytorch-ssd's or UltraFace's exporter) the
    spec :func:`ssd_edge.runtime.foreign.foreign_spec` builds, checked against the graph."""
    model = load_onnx(path)
    spec = get_spec(model)
    if spec is not None:
        if labels:
            from ..models.labels import read_labels
            names = read_labels(labels)
            if len(names) != spec.num_classes:
                raise SsdEdgeError("%s has %d classes but %s lists %d"
                                   % (path, spec.num_classes, labels, len(names)))
            spec = spec.replace(labels=tuple(names))
        return spec
    from ..runtime.artifact import read_labels
    from ..runtime.foreign import foreign_spec
    from ..runtime.onnxinfo import read_onnx_info
    return foreign_spec(os.path.basename(path), read_onnx_info(path),
                        read_labels(labels) if labels else None, net, mean, std)


def rename_input(model, name=INPUT_NAME):
    """Rename the graph's single image input to ``name`` (in place), every use included."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or inputs[0].name == name:
        return model
    old = inputs[0].name
    inputs[0].name = name
    for node in graph.node:
        for k, value in enumerate(node.input):
            if value == old:
                node.input[k] = name
    return model


def drop_initializer_inputs(model):
    """Remove weights listed as graph inputs (old exporters did; IR >= 4 needs no such entry), so
    runtimes treat them as constants and fold them. In place; returns the model."""
    if model.ir_version < 4:
        return model
    inits = {t.name for t in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in inits]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    return model


def raise_opset(model, opset):
    """Convert ``model`` to at least ``opset`` (ONNX's version converter); returns the model."""
    current = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [0])
    if current >= opset:
        return model
    from onnx import version_converter
    try:
        return version_converter.convert_version(model, opset)
    except Exception as e:  # the converter raises its own C++ errors
        raise SsdEdgeError("cannot raise the ONNX opset from %d to %d (%s); re-export the model "
                           "at opset %d or later" % (current, opset, str(e).splitlines()[0], opset))
