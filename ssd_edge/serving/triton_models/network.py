"""Triton python-backend model: an ssd-edge ONNX detector run by ONNX Runtime.

Written by ``ssd-export --triton DIR --triton-backend python`` as ``NAME/1/model.py`` beside
``NAME/1/model.onnx``. The server's dynamic batcher hands ``execute`` several requests at once;
their ``input_0`` batches are concatenated into one ONNX Runtime run and split back per request.
Needs numpy and onnxruntime in the Python environment the backend stub runs with.
"""
import json
import os


class TritonPythonModel:
    def initialize(self, args):
        import onnxruntime as ort
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        kind = args.get("model_instance_kind", "CPU")
        providers = ["CPUExecutionProvider"]
        if kind == "GPU" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider",
                                 {"device_id": int(args.get("model_instance_device_id", 0))}))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(os.path.join(folder, "model.onnx"), opts,
                                            providers=providers)
        self.input = config["input"][0]["name"]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests):
        import numpy as np
        import triton_python_backend_utils as pb_utils
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy() for r in requests]
        counts = [a.shape[0] for a in arrays]
        batch = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
        results = self.session.run(self.outputs, {self.input: batch})
        responses, start = [], 0
        for n in counts:
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(value[start:start + n]))
                       for name, value in zip(self.outputs, results)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += n
        return responses

    def finalize(self):
        self.session = None
