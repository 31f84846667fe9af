"""Box utilities (numpy). Boxes are ``(..., 4)``; corner form is ``(x1, y1, x2, y2)`` and centre
form ``(cx, cy, w, h)``, in whatever unit the caller uses (normalised or pixels)."""
import numpy as np


def center_to_corner(boxes):
    """``(..., 4)`` centre form → corner form."""
    boxes = np.asarray(boxes)
    half = boxes[..., 2:] / 2
    return np.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], axis=-1)


def corner_to_center(boxes):
    """``(..., 4)`` corner form → centre form."""
    boxes = np.asarray(boxes)
    return np.concatenate([(boxes[..., :2] + boxes[..., 2:]) / 2,
                           boxes[..., 2:] - boxes[..., :2]], axis=-1)


def area(boxes):
    """``(..., 4)`` corner boxes → ``(...)`` areas, negative extents counted as 0."""
    wh = np.clip(boxes[..., 2:] - boxes[..., :2], 0, None)
    return wh[..., 0] * wh[..., 1]


def iou(boxes0, boxes1, eps=1e-5):
    """IoU of corner boxes, broadcasting ``(..., 4)`` against ``(..., 4)``.

    ``eps`` is added to the union exactly as pytorch-ssd's ``iou_of`` does, so suppression
    decisions on normalised boxes agree bit for bit in the usual cases.
    """
    boxes0 = np.asarray(boxes0)
    boxes1 = np.asarray(boxes1)
    lt = np.maximum(boxes0[..., :2], boxes1[..., :2])
    rb = np.minimum(boxes0[..., 2:], boxes1[..., 2:])
    inter = area(np.concatenate([lt, rb], axis=-1))
    return inter / (area(boxes0) + area(boxes1) - inter + eps)


def pairwise_iou(boxes0, boxes1, eps=1e-5):
    """``(N, 4)`` × ``(M, 4)`` corner boxes → ``(N, M)`` IoU matrix."""
    return iou(np.asarray(boxes0)[:, None, :], np.asarray(boxes1)[None, :, :], eps)


def decode(locations, priors, center_variance=0.1, size_variance=0.2):
    """SSD regression outputs → centre-form boxes.

    Args:
        locations: ``(..., P, 4)`` raw regression ``(dx, dy, dw, dh)``.
        priors: ``(P, 4)`` centre-form priors.
    Returns:
        ``(..., P, 4)`` centre-form boxes in the priors' unit.
    """
    locations = np.asarray(locations, dtype=np.float32)
    cxcy = locations[..., :2] * center_variance * priors[..., 2:] + priors[..., :2]
    wh = np.exp(locations[..., 2:] * size_variance) * priors[..., 2:]
    return np.concatenate([cxcy, wh], axis=-1)


def encode(center_boxes, priors, center_variance=0.1, size_variance=0.2):
    """Inverse of :func:`decode`: centre-form boxes ``(..., P, 4)`` → regression targets."""
    center_boxes = np.asarray(center_boxes, dtype=np.float32)
    dxy = (center_boxes[..., :2] - priors[..., :2]) / priors[..., 2:] / center_variance
    dwh = np.log(center_boxes[..., 2:] / priors[..., 2:]) / size_variance
    return np.concatenate([dxy, dwh], axis=-1)
