"""The peer every speed-up is measured against: what a pytorch-ssd user runs today.

A line-by-line transcription of pytorch-ssd's inference path (upstream HEAD 7a839cb):
``run_ssd_example.py``'s BGR→RGB conversion, ``PredictionTransform`` (``cv2.resize`` to the
input size, subtract the mean, divide by the std, HWC→CHW tensor), ``Predictor.predict`` (one
image, ``net.forward`` under ``no_grad``, outputs moved to the CPU, then a Python loop over the
classes with ``box_utils.hard_nms``) and ``box_utils.iou_of`` / ``area_of``, all in torch as
upstream. Only two things differ, neither changing what runs: the ``print`` of the inference time
is left out, and on CUDA the forward is followed by ``torch.cuda.synchronize()`` so that the
stage timings are attributed correctly (upstream's ``.to(cpu)`` waits for the same work anyway).

The network is the zoo's module built from the same checkpoint (its ``state_dict`` keys and
forward are pytorch-ssd's). pytorch-ssd has no batch API: a batch is a loop over the frames.
Slow on purpose; this is the yardstick, not a runtime.
"""
import time

import numpy as np

from ..detections import Detections
from ..errors import SsdEdgeError, missing_extra

NAME = "pytorch-ssd"


def area_of(left_top, right_bottom):
    import torch
    hw = torch.clamp(right_bottom - left_top, min=0.0)
    return hw[..., 0] * hw[..., 1]


def iou_of(boxes0, boxes1, eps=1e-5):
    import torch
    overlap_left_top = torch.max(boxes0[..., :2], boxes1[..., :2])
    overlap_right_bottom = torch.min(boxes0[..., 2:], boxes1[..., 2:])
    overlap_area = area_of(overlap_left_top, overlap_right_bottom)
    area0 = area_of(boxes0[..., :2], boxes0[..., 2:])
    area1 = area_of(boxes1[..., :2], boxes1[..., 2:])
    return overlap_area / (area0 + area1 - overlap_area + eps)


def hard_nms(box_scores, iou_threshold, top_k=-1, candidate_size=200):
    """``box_scores (N, 5)``: corner boxes and the score last; returns the kept rows."""
    scores = box_scores[:, -1]
    boxes = box_scores[:, :-1]
    picked = []
    _, indexes = scores.sort(descending=True)
    indexes = indexes[:candidate_size]
    while len(indexes) > 0:
        current = indexes[0]
        picked.append(current.item())
        if 0 < top_k == len(picked) or len(indexes) == 1:
            break
        current_box = boxes[current, :]
        indexes = indexes[1:]
        rest_boxes = boxes[indexes, :]
        iou = iou_of(rest_boxes, current_box.unsqueeze(0))
        indexes = indexes[iou <= iou_threshold]
    return box_scores[picked, :]


class PytorchSsdPredictor:
    """pytorch-ssd's ``Predictor`` over a ``.pth``, with the Detector's calling convention.

    Args:
        path: a ``.pth`` checkpoint (read by :func:`ssd_edge.models.load_checkpoint`).
        threads: ``torch.set_num_threads`` (process-wide) on the CPU; None leaves it.
        device: ``"cpu"`` or ``"cuda[:N]"``; None = CUDA when available.
        conf_threshold, iou_threshold, candidate_size, top_k: the Predictor's
            ``prob_threshold``, ``iou_threshold``, ``candidate_size`` and ``top_k``.
    """

    backend_name = NAME
    precision = "fp32"

    def __init__(self, path, threads=None, device=None, conf_threshold=0.4, iou_threshold=0.45,
                 candidate_size=200, top_k=-1):
        try:
            import cv2
            import torch
        except ImportError as e:
            raise missing_extra(getattr(e, "name", None) or "torch", "export")
        from ..models import load_checkpoint
        self._torch, self._cv2 = torch, cv2
        model, self.spec = load_checkpoint(path)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dev = torch.device(device)
        if self.dev.type == "cuda" and not torch.cuda.is_available():
            raise SsdEdgeError("expected a CUDA GPU for device %r, got none visible to torch"
                               % (device,))
        if threads and self.dev.type == "cpu":
            torch.set_num_threads(int(threads))
        self.net = model.eval().to(self.dev)
        self.path, self.device = path, str(self.dev)
        self.backend_reason = "pytorch-ssd's Predictor loop (transcribed), eager PyTorch"
        self.conf_threshold, self.iou_threshold = conf_threshold, iou_threshold
        self.candidate_size, self.top_k = candidate_size, top_k
        h, w = self.spec.input_size
        self._size = (w, h)
        self._mean = np.array(self.spec.mean, np.float32)
        self._std = np.array(self.spec.std, np.float32)
        self.last_timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}

    @property
    def labels(self):
        return self.spec.labels

    def transform(self, image):
        """``PredictionTransform``: resize (stretch), subtract mean, divide by std, to CHW."""
        image = self._cv2.resize(image, self._size)
        image = image.astype(np.float32)
        image -= self._mean
        image = image / self._std
        return self._torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)

    def predict(self, image, timings):
        """``Predictor.predict(image, top_k, prob_threshold)`` on one RGB image."""
        torch = self._torch
        t0 = time.perf_counter()
        height, width, _ = image.shape
        images = self.transform(image).unsqueeze(0).to(self.dev)
        t1 = time.perf_counter()
        with torch.no_grad():
            scores, boxes = self.net.forward(images)
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
        t2 = time.perf_counter()
        boxes, scores = boxes[0].to("cpu"), scores[0].to("cpu")
        picked_box_probs, picked_labels = [], []
        for class_index in range(1, scores.size(1)):
            probs = scores[:, class_index]
            mask = probs > self.conf_threshold
            probs = probs[mask]
            if probs.size(0) == 0:
                continue
            subset_boxes = boxes[mask, :]
            box_probs = torch.cat([subset_boxes, probs.reshape(-1, 1)], dim=1)
            box_probs = hard_nms(box_probs, self.iou_threshold, self.top_k, self.candidate_size)
            picked_box_probs.append(box_probs)
            picked_labels.extend([class_index] * box_probs.size(0))
        if picked_box_probs:
            picked = torch.cat(picked_box_probs)
            picked[:, 0] *= width
            picked[:, 1] *= height
            picked[:, 2] *= width
            picked[:, 3] *= height
            out = (picked[:, :4].numpy(), picked[:, 4].numpy(), np.array(picked_labels))
        else:
            out = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
        t3 = time.perf_counter()
        timings["preprocess"] += (t1 - t0) * 1e3
        timings["inference"] += (t2 - t1) * 1e3
        timings["postprocess"] += (t3 - t2) * 1e3
        return Detections(out[0], out[1], out[2], [self.spec.labels[i] for i in out[2]])

    def detect_batch(self, frames):
        """BGR uint8 frames → one Detections each; BGR→RGB as pytorch-ssd's demo scripts do."""
        timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        out = []
        for frame in frames:
            t0 = time.perf_counter()
            rgb = self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)
            timings["preprocess"] += (time.perf_counter() - t0) * 1e3
            out.append(self.predict(rgb, timings))
        self.last_timings = timings
        return out

    def __call__(self, frame):
        return self.detect_batch([frame])[0]

    def close(self):
        self.net = None
