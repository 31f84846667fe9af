"""Post-processing as batched torch ops on the tensors' own device (no torchvision, no Python
loop over classes or boxes): the torch backend's GPU twin of :func:`ssd_edge.postprocess`.

It mirrors :mod:`ssd_edge.nms` decision for decision, so the detections are the same:

* candidates per (image, class): the ``candidate_size`` best scores ``> conf_threshold``, ordered
  by descending score with ties going to the lower prior index. A single ``topk`` on a composite
  int64 key (the float's order-preserving bits, then the inverted prior index) gives exactly
  that order, whatever order the device's sort leaves equal floats in;
* greedy hard NMS solved as the same fixed point (a box is kept iff no *kept* higher-ranked box
  of its group overlaps it by more than the threshold), with the IoU computed by the same
  float32 operations in the same order as pytorch-ssd's ``iou_of`` (``+1e-5`` in the union),
  so every suppression decision is bit-identical;
* ``top_k`` per class, ``max_detections`` per image (highest scores, ties to the earlier
  detection, class-major order kept), ``class_agnostic``, boxes scaled to the frame.

Gaussian soft-NMS is inherently sequential per class; ``method="soft"`` copies the outputs to
the host and runs :func:`ssd_edge.postprocess` there. torch is imported inside the functions:
this module is only imported by the torch backend.
"""
import numpy as np

from ..detections import Detections
from ..nms import _EPS, postprocess as numpy_postprocess
from ..spec import NmsDefaults

_NMS = NmsDefaults()

_NONE = -(2 ** 63)          # key of a score that is not a candidate


def postprocess_batch(scores, boxes, frame_sizes=None, conf_threshold=_NMS.conf_threshold,
                      iou_threshold=_NMS.iou_threshold, candidate_size=_NMS.candidate_size,
                      top_k=_NMS.top_k, max_detections=_NMS.max_detections, labels=None,
                      method="hard", sigma=0.5, class_agnostic=False):
    """:func:`ssd_edge.postprocess` for a batch of torch tensors, on their device.

    Args:
        scores: ``(B, P, C) float`` tensor, softmax probabilities, column 0 = background.
        boxes: ``(B, P, 4) float`` tensor, corner boxes normalised to [0, 1].
        frame_sizes: ``B`` pairs ``(W, H)`` in pixels (None = keep normalised boxes).
        the rest: as :func:`ssd_edge.postprocess`.
    Returns:
        ``B`` :class:`Detections` (numpy), identical to ``ssd_edge.postprocess`` per image;
        only the final detections are copied to the host.
    """
    import torch
    scores, boxes = scores.float(), boxes.float()
    if scores.dim() != 3 or tuple(boxes.shape) != (scores.shape[0], scores.shape[1], 4):
        raise ValueError("expected scores (B, P, C) and boxes (B, P, 4), got %s and %s"
                         % (tuple(scores.shape), tuple(boxes.shape)))
    b = scores.shape[0]
    if method == "soft":
        s, x = scores.cpu().numpy(), boxes.cpu().numpy()
        return [numpy_postprocess(s[i], x[i], frame_size=None if frame_sizes is None
                                  else frame_sizes[i], conf_threshold=conf_threshold,
                                  top_k=top_k, max_detections=max_detections, labels=labels,
                                  method="soft", sigma=sigma) for i in range(b)]
    if method != "hard":
        raise ValueError("method must be 'hard' or 'soft', got %r" % (method,))
    with torch.no_grad():
        pick = _agnostic if class_agnostic else _per_class
        found = pick(scores, boxes, conf_threshold, iou_threshold, candidate_size, top_k)
        if found is None:
            return [Detections.empty() for _ in range(b)]
        img, cls, prior, score = found
        if max_detections is not None and 0 <= max_detections < len(score):
            keep = _cap(img, score, b, max_detections)
            img, cls, prior, score = img[keep], cls[keep], prior[keep], score[keep]
        out = boxes[img, prior]
        if frame_sizes is not None:
            wh = torch.tensor([[w, h, w, h] for w, h in frame_sizes], dtype=torch.float32)
            out = out * wh.to(out.device)[img]
        # One copy back: image, class, score and the four box coordinates per detection.
        host = torch.cat([img[:, None].float(), cls[:, None].float(), score[:, None], out],
                         1).cpu().numpy()
    return _split(host, b, labels)


def postprocess_options(scores, boxes, frame_sizes, options):
    """``ssd_edge.runtime.postprocess.decoded_to_detections`` for a batch on the device:
    per-class thresholds and the class allow-list (``options.thresholds``) included."""
    import torch
    from .postprocess import effective_thresholds
    conf, thr = effective_thresholds(options)
    if conf is None:
        return [Detections.empty() for _ in range(scores.shape[0])]
    if thr is not None:
        t = torch.from_numpy(thr).to(scores.device)
        scores = torch.where(scores.float() > t, scores.float(), torch.zeros((), device=t.device))
    return postprocess_batch(scores, boxes, frame_sizes, conf_threshold=conf,
                             iou_threshold=options.iou_threshold,
                             candidate_size=options.candidate_size, top_k=options.top_k,
                             max_detections=options.max_detections, labels=options.labels)


def _keys(values, conf_threshold):
    """``(..., N)`` float32 → int64 keys ordering by value (descending via topk), then by lower
    index; values not ``> conf_threshold`` get :data:`_NONE`. Also returns the shift."""
    import torch
    n = values.shape[-1]
    shift = max(1, int(n - 1).bit_length())
    v = values.float() + 0.0                          # -0.0 → +0.0: equal floats, equal keys
    bits = v.contiguous().view(torch.int32)
    ordered = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).long()   # monotonic in the float's value
    idx = torch.arange(n, device=values.device)
    key = ordered * (1 << shift) + ((1 << shift) - 1 - idx)
    above = v > torch.tensor(conf_threshold, dtype=torch.float32, device=v.device)
    return torch.where(above, key, torch.full_like(key, _NONE)), above, shift


def _top(key, k, shift):
    """Top ``k`` keys per row → ``(index (..., k), valid (..., k))``, best first."""
    import torch
    top = torch.topk(key, k, dim=-1, largest=True, sorted=True).values
    valid = top != _NONE
    idx = ((1 << shift) - 1) - (top & ((1 << shift) - 1))
    return torch.where(valid, idx, torch.zeros_like(idx)), valid


def _per_class(scores, boxes, conf, iou_threshold, candidate_size, top_k):
    """Class-wise candidates and NMS for the batch → ``(img, cls, prior, score)`` in each image's
    class-major, score-descending order (images ascending), or None without any candidate."""
    import torch
    fg = scores[:, :, 1:].transpose(1, 2)                                    # (B, C-1, P)
    key, above, shift = _keys(fg, conf)
    counts = above.sum(-1)
    rows = torch.nonzero(counts > 0)                                         # (G, 2): b, c-1
    if rows.shape[0] == 0:
        return None
    k = int(min(candidate_size, int(counts.max())))
    if k <= 0:
        return None
    idx, valid = _top(key[rows[:, 0], rows[:, 1]], k, shift)                 # (G, K)
    cand_boxes = boxes[rows[:, 0:1], idx]                                    # (G, K, 4)
    keep = _limit(greedy_keep(cand_boxes, valid, iou_threshold), top_k)
    g, j = torch.nonzero(keep, as_tuple=True)                                # row-major
    img, cls0, prior = rows[g, 0], rows[g, 1], idx[g, j]
    return img, cls0 + 1, prior, fg[img, cls0, prior]


def _agnostic(scores, boxes, conf, iou_threshold, candidate_size, top_k):
    """One NMS per image over its ``candidate_size`` best (prior, class) pairs, ranked by score,
    then prior, then class (``np.lexsort((cls, prior, -s))``); output class-major."""
    import torch
    b, p, c = scores.shape
    flat = scores[:, :, 1:].reshape(b, p * (c - 1))          # index = prior * (C-1) + class-1
    key, above, shift = _keys(flat, conf)
    counts = above.sum(-1)
    if int(counts.max()) == 0:
        return None
    k = int(min(candidate_size, int(counts.max())))
    if k <= 0:
        return None
    idx, valid = _top(key, k, shift)                                         # (B, K)
    prior, cls0 = idx // (c - 1), idx % (c - 1)
    bi = torch.arange(b, device=scores.device)[:, None]
    keep = _limit(greedy_keep(boxes[bi, prior], valid, iou_threshold), top_k)
    img, j = torch.nonzero(keep, as_tuple=True)
    prior, cls0 = prior[img, j], cls0[img, j]
    # Class-major inside each image, keeping the score order within a class (stable sorts).
    order = torch.sort(cls0, stable=True).indices
    order = order[torch.sort(img[order], stable=True).indices]
    img, prior, cls0 = img[order], prior[order], cls0[order]
    return img, cls0 + 1, prior, flat[img, prior * (c - 1) + cls0]


def greedy_keep(cand_boxes, valid, iou_threshold):
    """Greedy hard NMS for a stack of ranked box lists, as ``ssd_edge.nms._greedy_keep``.

    Args:
        cand_boxes: ``(G, K, 4) float32`` corner boxes, each row best first.
        valid: ``(G, K) bool``, False for padding.
    Returns:
        ``(G, K) bool``, True where the box survives.
    """
    import torch
    g, k = valid.shape
    keep = torch.zeros_like(valid)
    step = max(1, (1 << 24) // max(1, k * k))         # rows per chunk: bounded IoU memory
    for r0 in range(0, g, step):
        keep[r0:r0 + step] = _fixed_point(_overlaps(cand_boxes[r0:r0 + step].float(),
                                                    iou_threshold), valid[r0:r0 + step])
    return keep


def _overlaps(bx, thr):
    """``(G, K, 4)`` → ``(G, K, K)``: 1 where row i ranks above column j (i < j) and their IoU
    is ``> thr``, in the numpy version's float32 arithmetic (see ``_block_overlap``)."""
    import torch
    x1, y1, x2, y2 = bx.unbind(-1)
    area = torch.clamp(x2 - x1, min=0) * torch.clamp(y2 - y1, min=0)
    area_eps = area + torch.tensor(_EPS, dtype=torch.float32, device=bx.device)
    w = torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None],
                                                                      x1[:, None, :])
    h = torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None],
                                                                      y1[:, None, :])
    inter = w * h             # h < 0 makes it negative: never above a threshold >= 0, as there
    union = (area[:, :, None] + area_eps[:, None, :]) - inter
    over = (w > 0) & (inter / union > torch.tensor(thr, dtype=torch.float32, device=bx.device))
    k = bx.shape[1]
    over &= torch.ones(k, k, dtype=torch.bool, device=bx.device).triu(1)
    # Half on a GPU: the test below is "sum == 0", which a sum of 0/1 terms passes in any
    # precision only when every term is 0; float32 on the CPU, where half matmul is slow.
    return over.to(torch.float16 if bx.is_cuda else torch.float32)


def _fixed_point(over, valid):
    """Iterate ``keep = valid & (no kept row overlaps)`` from "keep all" to its fixed point.

    Every comparison with the previous state is a device→host sync, so after the first two
    steps (where most inputs converge) the state is compared every fourth step: steps past the
    fixed point leave it unchanged. Chains of mutually overlapping boxes need more steps (an
    untrained net's many tied scores: about 30 at threshold 0.01); never more than K + 1.
    """
    import torch
    keep, step, k = valid.clone(), 0, over.shape[1]
    while step <= k:
        prev = keep
        for _ in range(1 if step < 2 else 4):
            hit = torch.bmm(keep.to(over.dtype).unsqueeze(1), over).squeeze(1)
            keep = valid & (hit == 0)
            step += 1
        if torch.equal(prev, keep):
            break
    return keep


def _limit(keep, top_k):
    """At most ``top_k`` survivors per row (the best ones); ``top_k <= 0`` keeps all."""
    if top_k is not None and top_k > 0:
        keep = keep & (keep.long().cumsum(1) <= top_k)
    return keep


def _cap(img, score, b, cap):
    """Mask keeping, per image, the ``cap`` highest scores (ties: earlier position), as
    ``np.sort(np.argsort(-s, kind="stable")[:cap])`` per image."""
    import torch
    order = torch.sort(-score, stable=True).indices
    order = order[torch.sort(img[order], stable=True).indices]               # image, -s, pos
    counts = torch.bincount(img, minlength=b)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order), device=img.device) - start[img[order]]
    keep = torch.zeros_like(img, dtype=torch.bool)
    keep[order[rank < cap]] = True
    return keep


def _split(host, b, labels):
    """``(N, 7)`` host rows (image, class, score, x1, y1, x2, y2) → ``b`` Detections."""
    img = host[:, 0].astype(np.int64)
    bounds = np.searchsorted(img, np.arange(b + 1))
    out = []
    for i in range(b):
        rows = host[bounds[i]:bounds[i + 1]]
        cls = rows[:, 1].astype(np.int64)
        names = [labels[c] for c in cls] if labels is not None else []
        out.append(Detections(rows[:, 3:7], rows[:, 2], cls, names))
    return out
