"""The DetectorSpec inside an ONNX model: ``metadata_props["ssd_edge.spec"]`` (docs/architecture.md §3)."""
import os

from ..contract import SPEC_KEY
from ..errors import SsdEdgeError
from ..spec import DetectorSpec


def set_spec(model, spec):
    """Store ``spec`` as JSON in ``model.metadata_props`` (an ``onnx.ModelProto``), replacing any."""
    keep = [p for p in model.metadata_props if p.key != SPEC_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key = SPEC_KEY
    entry.value = spec.to_json()
    return model


def get_spec(model):
    """Return the DetectorSpec stored in an ``onnx.ModelProto``, or None when it has none."""
    for p in model.metadata_props:
        if p.key == SPEC_KEY:
            return DetectorSpec.from_json(p.value)
    return None


def load_onnx(path):
    """Load an ONNX file with a one-line error for missing or garbage files."""
    import onnx
    from ..safety import check_external_data
    if not os.path.isfile(str(path)):
        raise SsdEdgeError("ONNX file %s does not exist" % path)
    check_external_data(path)     # before onnx.load follows any external-data location
    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise SsdEdgeError("ONNX file %s does not exist" % path)
    except Exception as e:  # onnx raises DecodeError and friends for garbage
        raise SsdEdgeError("expected an ONNX model in %s, got unreadable data (%s)"
                           % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))


def check_onnx(model, path):
    """``onnx.checker.check_model(full_check=True)``, or one line naming ``path`` and the problem.

    A graph holding TensorRT's ``EfficientNMS_TRT`` plugin is left unchecked: the checker cannot
    know a TensorRT plugin op (the graph is for TensorRT's parser and DeepStream, not ONNX tools).
    """
    import onnx
    if any(n.op_type == "EfficientNMS_TRT" for n in model.graph.node):
        return False
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:   # ValidationError, InferenceError
        first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise SsdEdgeError("expected a valid ONNX graph for %s, but onnx.checker rejects it: %s"
                           % (path, first.strip()))
    return True


def save_onnx(model, path, check=True):
    """Write an ``onnx.ModelProto`` atomically, after :func:`check_onnx` unless ``check`` is False."""
    from ..fileio import atomic_write_bytes
    if check:
        check_onnx(model, path)
    atomic_write_bytes(path, model.SerializeToString())
