"""Build zone: checkpoint → ONNX (simplified, self-describing) → FP16 / INT8 → TensorRT engine."""
