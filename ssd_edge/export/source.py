"""The DetectorSpec of an ONNX given to ssd-export: from our metadata, or from --net/--labels."""
from ..errors import SsdEdgeError
from ..labels import model_labels
from .metadata import get_spec, load_onnx


def _dims(value_info):
    return [d.dim_value if d.dim_value else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def spec_for_onnx(path, labels=None, net=None):
    """Spec stored in ``path``; for a foreign ONNX (e.g. pytorch-ssd's own exporter) build it from
    ``net`` and ``labels`` and check it against the graph's output shapes."""
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
    graph = model.graph
    return foreign_spec(path, model_labels(labels) if labels else None, net or None,
                        _dims(graph.input[0]) if len(graph.input) else None,
                        {o.name: _dims(o) for o in graph.output})
