"""The DetectorSpec inside an ONNX model: ``metadata_props["ssd_edge.spec"]`` (DESIGN.md §3)."""
import os

from ..errors import SsdEdgeError
from ..spec import DetectorSpec

SPEC_KEY = "ssd_edge.spec"


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
    from ..runtime.safety import check_external_data
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


def save_onnx(model, path):
    """Write an ``onnx.ModelProto`` atomically."""
    from ..fileio import atomic_write_bytes
    atomic_write_bytes(path, model.SerializeToString())
