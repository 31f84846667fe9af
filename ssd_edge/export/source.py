"""The DetectorSpec of an ONNX given to ssd-export: from our metadata, or from --net/--labels."""
from ..errors import SsdEdgeError
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
            from ..models.labels import read_labels
            names = read_labels(labels)
            if len(names) != spec.num_classes:
                raise SsdEdgeError("%s has %d classes but %s lists %d"
                                   % (path, spec.num_classes, labels, len(names)))
            spec = spec.replace(labels=tuple(names))
        return spec
    if not net or not labels:
        raise SsdEdgeError("%s has no ssd-edge metadata; pass --net NAME and --labels labels.txt "
                           "so the priors, normalisation and class names are known" % path)
    from ..models.labels import read_labels
    from ..models.specs import default_spec
    spec = default_spec(net, read_labels(labels))
    outs = {o.name: _dims(o) for o in model.graph.output}
    if "scores" not in outs or "boxes" not in outs:
        raise SsdEdgeError("expected outputs 'scores' and 'boxes' in %s, got %s"
                           % (path, ", ".join(outs)))
    p, c = outs["scores"][1:3]
    if (isinstance(p, int) and p != spec.num_priors) or (isinstance(c, int) and c != spec.num_classes):
        raise SsdEdgeError("%s outputs %s priors x %s classes but %s with %s expects %d x %d"
                           % (path, p, c, net, labels, spec.num_priors, spec.num_classes))
    return spec
