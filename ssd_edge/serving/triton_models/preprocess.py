"""Triton python-backend model: one BGR uint8 frame (any H x W) → the network's ``input_0``.

Written by ``ssd-export --triton DIR`` as ``NAME_preprocess/1/model.py``; runs ssd-edge's own
:class:`~ssd_edge.preprocess.Preprocessor` (a copy of ssd-edge's numpy-only modules sits
beside this file), so the server resizes and normalises exactly as the local Detector does.
Needs numpy and OpenCV in the Python environment the backend stub runs with.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class TritonPythonModel:
    def initialize(self, args):
        from ssd_edge.preprocess import Preprocessor
        from ssd_edge.spec import DetectorSpec
        config = json.loads(args["model_config"])
        spec = DetectorSpec.from_json(config["parameters"]["ssd_edge.spec"]["string_value"])
        self.pre = Preprocessor(spec, resize="cv2")

    def execute(self, requests):
        import numpy as np
        import triton_python_backend_utils as pb_utils
        responses = []
        for request in requests:
            frames = pb_utils.get_input_tensor_by_name(request, "frame").as_numpy()
            batch = self.pre([np.ascontiguousarray(f) for f in frames])
            sizes = np.array([[f.shape[1], f.shape[0]] for f in frames], np.int32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("input_0", batch), pb_utils.Tensor("frame_size", sizes)]))
        return responses
