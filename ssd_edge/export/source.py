"""The DetectorSpec of an ONNX given to ssd-export: from our metadata, or, for a foreign file,
from --labels with --mean/--std (or --net), as :mod:`ssd_edge.models.foreign` builds it."""
import collections
import os

from ..errors import SsdEdgeError
from ..labels import model_labels
from .metadata import get_spec, load_onnx

_Tensor = collections.namedtuple("_Tensor", "name shape")
_GraphIO = collections.namedtuple("_GraphIO", "inputs outputs")

#: The input name of every ONNX ssd-edge writes (docs/architecture.md §3).
INPUT_NAME = "input_0"


def spec_for_onnx(path, labels=None, net=None, mean=None, std=None):
    """Spec stored in ``path``; for a foreign ONNX (pytorch-ssd's or UltraFace's exporter) the
    spec :func:`ssd_edge.models.foreign.foreign_spec` builds, checked against the graph."""
    model = load_onnx(path)
    spec = get_spec(model)
    if spec is not None:
        if labels:
            names = model_labels(labels)
            if len(names) != spec.num_classes:
                raise SsdEdgeError("%s has %d classes but %s lists %d"
                                   % (path, spec.num_classes, labels, len(names)))
            spec = spec.replace(labels=tuple(names))
        return spec
    from ..models.foreign import foreign_spec
    return foreign_spec(os.path.basename(path), _graph_io(model),
                        model_labels(labels) if labels else None, net, mean, std)


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


def _dims(value_info):
    return tuple(d.dim_value if d.dim_value else (d.dim_param or None)
                 for d in value_info.type.tensor_type.shape.dim)


def _graph_io(model):
    """The graph's inputs (initializers excluded: old exporters list weights as inputs) and
    outputs as ``(name, dims)`` pairs, the shape :func:`ssd_edge.models.foreign.foreign_spec`
    reads (ints, or names / None where dynamic)."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    return _GraphIO(tuple(_Tensor(i.name, _dims(i)) for i in graph.input if i.name not in inits),
                    tuple(_Tensor(o.name, _dims(o)) for o in graph.output))
