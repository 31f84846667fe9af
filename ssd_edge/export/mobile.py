"""ONNX Runtime's mobile format (``.ort``): a pre-optimised flatbuffer for phones and small boards."""

from ..fileio import atomic_path


def to_ort_format(onnx_path, ort_path):
    """Convert ``onnx_path`` to ``ort_path`` the way ONNX Runtime's converter does: load the model
    in a session at the 'basic' optimisation level (hardware-independent fusions only, so the file
    runs on any device) and let the session save itself in ORT format."""
    import onnxruntime as ort
    with atomic_path(ort_path) as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = tmp
        so.add_session_config_entry("session.save_model_format", "ORT")
        so.log_severity_level = 3
        ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    return str(ort_path)
