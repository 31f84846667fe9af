"""Triton python-backend model: an ssd-edge ONNX detector run by ONNX Runtime.

Written by ``ssd-export --triton DIR --triton-backend python`` as ``NAME/1/model.py`` beside
``NAME/1/model.onnx``. The server's dynamic batcher hands ``execute`` several requests at once;
their ``input_0`` batches are concatenated into one ONNX Runtime run and split back per request.
Needs numpy and onnxruntime in the Python environment the backend stub runs with.

On CPU, each instance's ONNX Runtime gets its share of the cores (usable cores / CPU instances
in ``instance_group``) and its threads sleep between runs instead of spinning: the server, the
other instances' stubs and same-host clients need those cores.
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
        if len(providers) == 1:
            opts.intra_op_num_threads = _cpu_share(config)
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
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


def _cpu_share(config):
    """ONNX Runtime threads for one instance: usable cores / CPU instances of this model (>= 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        cores = os.cpu_count() or 1
    groups = config.get("instance_group") or [{}]
    instances = sum(int(g.get("count", 1)) for g in groups
                    if g.get("kind", "KIND_CPU") != "KIND_GPU")
    return max(1, cores // max(1, instances))
