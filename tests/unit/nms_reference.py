"""A literal, loop-by-loop transcription of pytorch-ssd's Predictor post-processing in numpy.

Slow on purpose: it is the yardstick the vectorised ``ssd_edge.postprocess`` is tested against.
"""
import numpy as np


def iou_of(boxes0, boxes1, eps=1e-5):
    lt = np.maximum(boxes0[..., :2], boxes1[..., :2])
    rb = np.minimum(boxes0[..., 2:], boxes1[..., 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    a0 = np.clip(boxes0[..., 2:] - boxes0[..., :2], 0, None).prod(-1)
    a1 = np.clip(boxes1[..., 2:] - boxes1[..., :2], 0, None).prod(-1)
    return inter / (a0 + a1 - inter + np.float32(eps))


def hard_nms(boxes, scores, iou_threshold, top_k, candidate_size):
    order = list(np.argsort(-scores, kind="stable")[:candidate_size])
    picked = []
    while order:
        cur = order[0]
        picked.append(cur)
        if 0 < top_k == len(picked) or len(order) == 1:
            break
        rest = np.array(order[1:])
        ious = iou_of(boxes[rest], boxes[cur][None])
        order = list(rest[ious <= iou_threshold])
    return picked


def predictor(scores, boxes, conf, iou_threshold, candidate_size=200, top_k=-1):
    """Returns a list of (class_id, prior_index, score) in the Predictor's output order."""
    out = []
    for c in range(1, scores.shape[1]):
        idx = np.flatnonzero(scores[:, c] > conf)
        if not idx.size:
            continue
        picked = hard_nms(boxes[idx], scores[idx, c], iou_threshold, top_k, candidate_size)
        out += [(c, int(idx[p]), float(scores[idx[p], c])) for p in picked]
    return out
