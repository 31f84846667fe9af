"""Triton python-backend model: network outputs → detections in frame pixels.

Written by ``ssd-export --triton DIR`` as ``NAME_postprocess/1/model.py``; runs ssd-edge's own
post-processing (:func:`ssd_edge.runtime.postprocess.outputs_to_detections`, pytorch-ssd's
Predictor for decoded graphs) from a copy of ssd-edge's numpy-only modules beside this file, so
its detections equal the local Detector's. Per request: ``thresholds (C,)`` per-class score
thresholds (``inf`` drops a class) and ``nms_options`` = (iou_threshold, candidate_size, top_k,
max_detections).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class TritonPythonModel:
    def initialize(self, args):
        from ssd_edge.contract import NMS_OUTPUTS
        from ssd_edge.spec import DetectorSpec
        config = json.loads(args["model_config"])
        params = config["parameters"]
        self.spec = DetectorSpec.from_json(params["ssd_edge.spec"]["string_value"])
        self.layout = params["ssd_edge.layout"]["string_value"]
        self.names = NMS_OUTPUTS if self.layout == "nms" else ("scores", "boxes")

    def execute(self, requests):
        import numpy as np
        import triton_python_backend_utils as pb_utils
        from ssd_edge.runtime.postprocess import DetectOptions, outputs_to_detections
        responses = []
        for request in requests:
            get = lambda name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
            outputs = {n: get(n) for n in self.names}
            sizes = [tuple(int(v) for v in s) for s in get("frame_size")]
            thr = get("thresholds")[0].astype(np.float64)
            iou, candidates, top_k, cap = (float(v) for v in get("nms_options")[0])
            fg = thr[1:][np.isfinite(thr[1:])]
            conf = float(fg.min()) if fg.size else float("inf")
            uniform = bool(fg.size == len(thr) - 1 and np.all(fg == conf))
            options = DetectOptions(conf, iou, int(candidates), int(top_k), int(cap),
                                    self.spec.labels,
                                    None if uniform else tuple(float(t) for t in thr))
            dets = outputs_to_detections(outputs, sizes, options, self.layout)[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("detection_boxes", dets.boxes.astype(np.float32)[None]),
                pb_utils.Tensor("detection_scores", dets.scores.astype(np.float32)[None]),
                pb_utils.Tensor("detection_classes", dets.class_ids.astype(np.int32)[None])]))
        return responses
