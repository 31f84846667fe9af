"""FP16 artifact: FP16 weights and compute, FP32 inputs/outputs, the softmax/decoding tail in FP32."""
from .graph import ensure_node_names, tail_nodes, topological_sort
from .metadata import get_spec, set_spec


def to_fp16(model):
    """Return an FP16 copy of an FP32 ``onnx.ModelProto`` exported by :mod:`.onnx_export`.

    Uses ONNX Runtime's own converter (the one its transformer optimiser ships) with
    ``keep_io_types`` so callers keep feeding and reading float32, and blocks the tail nodes
    (softmax, reshapes, concat, prior decoding) so probabilities and box coordinates are computed
    in FP32 — ``exp`` of FP16 offsets times FP16 priors loses ~1e-3 of the box, for no speed.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16
    ensure_node_names(model)
    spec = get_spec(model)
    block = tail_nodes(model.graph)
    half = convert_float_to_float16(model, keep_io_types=True, node_block_list=block,
                                    disable_shape_infer=False)
    topological_sort(half.graph)
    if spec is not None:
        set_spec(half, spec.replace(precision="fp16"))
    return half
