"""Training targets: match ground-truth boxes to priors and encode them as the heads predict.

pytorch-ssd semantics (``assign_priors`` + ``convert_boxes_to_locations``): every prior takes the
ground truth it overlaps most; every ground truth claims the prior that overlaps it most, even
below the threshold; priors whose best IoU is below ``iou_threshold`` become background (0).
Locations are encoded against the center-form priors with the spec's variances:
``((cx - pcx) / pw / cv, (cy - pcy) / ph / cv, log(w / pw) / sv, log(h / ph) / sv)``.
"""
import numpy as np


def center_to_corner(boxes):
    """``(..., 4)`` ``(cx, cy, w, h)`` → ``(x1, y1, x2, y2)``."""
    half = boxes[..., 2:] / 2
    return np.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], -1)


def corner_to_center(boxes):
    """``(..., 4)`` ``(x1, y1, x2, y2)`` → ``(cx, cy, w, h)``."""
    return np.concatenate([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]],
                          -1)


def iou_matrix(a, b, eps=1e-5):
    """IoU of every pair: ``a (P, 4)``, ``b (N, 4)`` corner boxes → ``(P, N)``.

    Same formula as pytorch-ssd's ``iou_of`` (areas without +1, ``eps`` in the denominator).
    """
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return inter / (area_a[:, None] + area_b[None, :] - inter + eps)


class PriorMatcher:
    """Turn one image's ground truth into per-prior targets.

    Args:
        priors: ``(P, 4) float32`` center-form priors (``spec.priors()``).
        center_variance, size_variance: the spec's variances.
        iou_threshold: minimum IoU for a prior to take an object's class (pytorch-ssd: 0.5).
    """

    def __init__(self, priors, center_variance=0.1, size_variance=0.2, iou_threshold=0.5):
        self.priors = np.asarray(priors, np.float32)
        self.corner = center_to_corner(self.priors)
        self.cv = float(center_variance)
        self.sv = float(size_variance)
        self.iou_threshold = float(iou_threshold)

    def __call__(self, boxes, labels):
        """``boxes (N, 4)`` corner form normalised to [0, 1], ``labels (N,) int`` →
        ``(locations (P, 4) float32, labels (P,) int64)``; N may be 0 (all background)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        labels = np.asarray(labels, np.int64).reshape(-1)
        n_priors = len(self.priors)
        if len(boxes) == 0:
            return np.zeros((n_priors, 4), np.float32), np.zeros(n_priors, np.int64)
        ious = iou_matrix(self.corner, boxes)                     # (P, N)
        best_target = ious.argmax(1)                              # per prior
        best_iou = ious[np.arange(n_priors), best_target]
        best_prior = ious.argmax(0)                               # per target
        # Each object keeps its best prior; later objects win a shared prior, as upstream.
        best_target[best_prior] = np.arange(len(boxes))
        best_iou[best_prior] = 2.0
        prior_labels = labels[best_target]
        prior_labels[best_iou < self.iou_threshold] = 0
        return self.encode(corner_to_center(boxes[best_target])), prior_labels

    def encode(self, center_boxes):
        """``(P, 4)`` center-form boxes → ``(P, 4) float32`` regression targets."""
        p = self.priors
        wh = np.maximum(center_boxes[:, 2:], 1e-6)
        return np.concatenate([(center_boxes[:, :2] - p[:, :2]) / p[:, 2:] / self.cv,
                               np.log(wh / p[:, 2:]) / self.sv], 1).astype(np.float32)

    def decode(self, locations):
        """Inverse of :meth:`encode`: ``(P, 4)`` targets → ``(P, 4)`` corner boxes."""
        p = self.priors
        center = np.concatenate([locations[:, :2] * self.cv * p[:, 2:] + p[:, :2],
                                 np.exp(locations[:, 2:] * self.sv) * p[:, 2:]], 1)
        return center_to_corner(center)
