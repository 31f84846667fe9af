"""Post-processing: scores and decoded boxes → :class:`Detections`, as pytorch-ssd's Predictor.

The Predictor loops over classes in Python and runs a greedy NMS per class. Here every class is
processed at once: candidates are the above-threshold pairs sorted once (one ``argpartition``
first where a class has more than ``candidate_size`` of them), all pairwise IoUs of every
class are computed in one broadcast, and the greedy pass is solved as a fixed point (a box is
kept iff no *kept* higher-scoring box of its class overlaps it by more than the threshold; that
recurrence has exactly one solution, the greedy one, and iterating it from "keep everything"
reaches it in at most chain-length steps, usually two or three).
"""
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .boxes import iou as _iou
from .detections import Detections
from .spec import NmsDefaults

_NMS = NmsDefaults()   # the one copy of the Predictor's defaults

_Picked = Tuple[np.ndarray, np.ndarray, np.ndarray]   # (class ids, prior indices, scores)
_EPS = 1e-5  # pytorch-ssd's iou_of adds this to the union; kept for identical decisions


def _batch_sizes(frame_size: Any, n: int) -> List[Any]:
    """``n`` frame sizes from one ``(W, H)`` (or None) or a list of ``n`` of them."""
    if frame_size is None or np.ndim(frame_size) == 1:
        return [frame_size] * n
    sizes = list(frame_size)
    if len(sizes) != n:
        raise ValueError("expected one frame_size (W, H) or %d of them, got %d" % (n, len(sizes)))
    return sizes


def postprocess(scores: np.ndarray, boxes: np.ndarray, *,
                frame_size: Optional[Tuple[int, int]] = None,
                conf_threshold: float = _NMS.conf_threshold,
                iou_threshold: float = _NMS.iou_threshold,
                candidate_size: int = _NMS.candidate_size, top_k: int = _NMS.top_k,
                max_detections: int = _NMS.max_detections,
                labels: Optional[Sequence[str]] = None, method: str = "hard", sigma: float = 0.5,
                class_agnostic: bool = False) -> Union[Detections, List[Detections]]:
    """Turn network outputs into detections.

    Args:
        scores: ``(P, C) float32`` softmax probabilities, column 0 = background; or the
            network's own ``(B, P, C)`` output.
        boxes: ``(P, 4) float32`` corner boxes ``(x1, y1, x2, y2)`` normalised to [0, 1]; or
            ``(B, P, 4)`` beside ``(B, P, C)`` scores.
        frame_size: ``(W, H)`` of the frame in pixels; boxes are scaled by it (None = keep
            normalised coordinates). With a batch, one ``(W, H)`` for every image or a list of
            ``B`` of them.
        conf_threshold: a class score must be strictly greater to be considered.
        iou_threshold: a box is suppressed when its IoU with a kept box is strictly greater.
        candidate_size: per class, only the highest-scoring ``candidate_size`` enter NMS.
        top_k: per class, at most this many survive (-1 = all), as the Predictor's ``top_k``.
        max_detections: overall cap keeping the highest scores (-1 = none; the Predictor has
            none). Kept detections stay in class-major, score-descending order.
        labels: class names indexed by class id; adds ``Detections.labels``.
        method: ``"hard"`` (greedy, the Predictor's default) or ``"soft"`` (Gaussian soft-NMS
            with ``sigma``, as pytorch-ssd's ``soft_nms``).
        class_agnostic: run one NMS across all classes (boxes of different classes suppress
            each other) on the ``candidate_size`` best (prior, class) pairs.

    Returns:
        :class:`Detections` ordered by class id, then by descending score, for ``(P, C)`` and
        ``(1, P, C)`` scores; a list of ``B`` of them for ``(B, P, C)`` with ``B > 1``.
    """
    scores = np.asarray(scores, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    if scores.ndim != 3:
        return postprocess_image(scores, boxes, frame_size=frame_size,
                                 conf_threshold=conf_threshold, iou_threshold=iou_threshold,
                                 candidate_size=candidate_size, top_k=top_k,
                                 max_detections=max_detections, labels=labels, method=method,
                                 sigma=sigma, class_agnostic=class_agnostic)
    if boxes.shape != scores.shape[:2] + (4,):
        raise ValueError("expected boxes (B, P, 4) beside scores (B, P, C), got %s and %s"
                         % (scores.shape, boxes.shape))
    sizes = _batch_sizes(frame_size, scores.shape[0])
    out = [postprocess_image(s, b, frame_size=fs, conf_threshold=conf_threshold,
                             iou_threshold=iou_threshold, candidate_size=candidate_size,
                             top_k=top_k, max_detections=max_detections, labels=labels,
                             method=method, sigma=sigma, class_agnostic=class_agnostic)
           for s, b, fs in zip(scores, boxes, sizes)]
    return out[0] if len(out) == 1 else out


def postprocess_image(scores: np.ndarray, boxes: np.ndarray, *,
                      frame_size: Optional[Tuple[int, int]] = None,
                      conf_threshold: float = _NMS.conf_threshold,
                      iou_threshold: float = _NMS.iou_threshold,
                      candidate_size: int = _NMS.candidate_size, top_k: int = _NMS.top_k,
                      max_detections: int = _NMS.max_detections,
                      labels: Optional[Sequence[str]] = None, method: str = "hard",
                      sigma: float = 0.5, class_agnostic: bool = False) -> Detections:
    """:func:`postprocess` of one image: ``scores (P, C)``, ``boxes (P, 4)`` → Detections."""
    scores = np.asarray(scores, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    if scores.ndim != 2 or boxes.shape != (scores.shape[0], 4):
        raise ValueError("expected scores (P, C) and boxes (P, 4), got %s and %s"
                         % (scores.shape, boxes.shape))
    if method == "soft":
        cls, keep_idx, keep_scores = _soft_nms(scores, boxes, conf_threshold, sigma, top_k)
    elif method == "hard":
        pick = _hard_nms_agnostic if class_agnostic else _hard_nms
        cls, keep_idx, keep_scores = pick(scores, boxes, conf_threshold, iou_threshold,
                                          candidate_size, top_k)
    else:
        raise ValueError("method must be 'hard' or 'soft', got %r" % (method,))
    if max_detections is not None and 0 <= max_detections < len(keep_scores):
        best = np.sort(np.argsort(-keep_scores, kind="stable")[:max_detections])
        cls, keep_idx, keep_scores = cls[best], keep_idx[best], keep_scores[best]
    out_boxes = boxes[keep_idx]
    if frame_size is not None:
        w, h = frame_size
        out_boxes = out_boxes * np.array([w, h, w, h], dtype=np.float32)
    names = [labels[c] for c in cls.tolist()] if labels is not None else []
    return Detections(out_boxes, keep_scores, cls, names)


def _candidates(scores: np.ndarray, conf_threshold: float, candidate_size: int) -> Any:
    """Per foreground class, the top ``candidate_size`` priors above threshold.

    Returns ``(classes (C',), idx (C', K) prior indices, cand (C', K) scores, valid (C', K))``
    with each row sorted by descending score; only classes with at least one candidate.
    """
    if scores.shape[1] == 2:                      # one class (face models): no transpose
        col = scores[:, 1]
        prior = np.flatnonzero(col > conf_threshold)
        if 0 < prior.size <= candidate_size:
            s = col[prior]
            order = np.argsort(-s, kind="stable")                        # ties: lower index
            return (np.ones(1, np.int64), prior[order][None], s[order][None],
                    np.ones((1, prior.size), bool))
    fg = np.ascontiguousarray(scores[:, 1:].T)                               # (C-1, P)
    above = fg > conf_threshold
    rows, cols = np.nonzero(above)                         # class-major, prior ascending
    if rows.size == 0:
        return rows + 1, None, None, None
    counts = np.bincount(rows, minlength=fg.shape[0])
    if counts.max() <= candidate_size:
        return _all_candidates(fg, rows, cols, counts)
    classes = np.flatnonzero(counts)
    if classes.size < fg.shape[0]:
        fg, above = fg[classes], above[classes]
    k = int(candidate_size)
    masked = np.where(above, fg, np.float32(-np.inf))
    # The k best per row, ties at the boundary resolved towards lower prior indices (what a
    # stable descending sort followed by [:k] keeps), so results never depend on the order
    # argpartition happens to leave equal scores in.
    kth = -np.partition(-masked, k - 1, axis=1)[:, k - 1:k]
    above_kth = masked > kth
    tied = masked == kth
    room = k - np.count_nonzero(above_kth, axis=1, keepdims=True)
    chosen = above_kth | (tied & (np.cumsum(tied, axis=1) <= room))
    idx = np.nonzero(chosen)[1].reshape(len(masked), k)
    cand = np.take_along_axis(masked, idx, axis=1)
    order = np.argsort(-cand, axis=1, kind="stable")                         # ties: lower index
    idx = np.take_along_axis(idx, order, axis=1)
    cand = np.take_along_axis(cand, order, axis=1)
    return classes + 1, idx, cand, cand > -np.inf


def _all_candidates(fg: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    counts: np.ndarray) -> Any:
    """:func:`_candidates` when no class has more than ``candidate_size`` above threshold.

    Every above-threshold ``(row, col)`` pair of ``fg (C-1, P)`` is a candidate, so only those
    pairs are sorted (one stable lexsort: class, then descending score, ties to the lower
    prior) and scattered into ``(C', K)`` rows padded with -inf, K the largest count.
    """
    s = fg[rows, cols]
    if rows[0] == rows[-1]:                                 # one class has candidates: a row
        order = np.argsort(-s, kind="stable")
        return rows[:1] + 1, cols[order][None], s[order][None], np.ones((1, s.size), bool)
    order = np.lexsort((-s, rows))
    rows, cols, s = rows[order], cols[order], s[order]
    classes = np.flatnonzero(counts)
    present = counts[classes]
    compact = np.repeat(np.arange(classes.size), present)
    pos = np.arange(rows.size) - np.repeat(np.cumsum(present) - present, present)
    k = int(present.max())
    idx = np.zeros((classes.size, k), np.int64)
    cand = np.full((classes.size, k), -np.inf, np.float32)
    idx[compact, pos] = cols
    cand[compact, pos] = s
    return classes + 1, idx, cand, cand > -np.inf


def _greedy_keep(cand_boxes: np.ndarray, valid: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS for a stack of score-sorted box lists.

    Args:
        cand_boxes: ``(G, K, 4)`` corner boxes, each row sorted by descending score.
        valid: ``(G, K)`` bool, False for padding.
    Returns:
        ``(G, K)`` bool, True where the box survives.
    """
    g, k = valid.shape
    xy = np.ascontiguousarray(cand_boxes.transpose(2, 0, 1), dtype=np.float32)   # (4, G, K)
    lo, hi = xy[:2], xy[2:]                                     # (x1, y1) and (x2, y2)
    w, h = hi - lo
    area = np.maximum(w, 0, out=w) * np.maximum(h, 0, out=h)
    area_eps = area + np.float32(_EPS)
    # Only a higher-scoring box (row i) suppresses a lower one (column j > i): the upper
    # triangle is computed in row blocks, each block only against the columns after its first
    # row (~40 % fewer pairs), into contiguous reused buffers. Small stacks take one block:
    # there the number of numpy calls costs more than the skipped pairs.
    step = k if g * k * k <= 65536 else max(32, -(-k // 4))
    blocks = []
    for r0 in range(0, k, step):
        r1 = min(k, r0 + step)
        a = _block_overlap(lo, hi, area, area_eps, slice(r0, r1), slice(r0, k), iou_threshold,
                           *_scratch(g, r1 - r0, k - r0))
        np.multiply(a[:, :, :r1 - r0], _triu(r1 - r0), out=a[:, :, :r1 - r0])
        blocks.append((r0, r1, a))
    keep = valid
    count = np.count_nonzero(keep)
    for _ in range(k + 1):
        keep_f = keep.astype(np.float32)[:, None, :]                          # (G, 1, K)
        if len(blocks) == 1:
            suppressed = np.matmul(keep_f, blocks[0][2])[:, 0, :]
        else:
            suppressed = np.zeros((g, k), np.float32)
            for r0, r1, a in blocks:
                suppressed[:, r0:] += np.matmul(keep_f[:, :, r0:r1], a)[:, 0, :]
        new = valid & (suppressed == 0)
        # The iterates alternate around the greedy answer (even ones contain it, odd ones lie
        # inside it), so each is a subset or a superset of the one before: equal counts mean
        # equal sets.
        new_count = np.count_nonzero(new)
        if new_count == count:
            break
        keep, count = new, new_count
    return keep


_local = threading.local()


def _scratch(g: int, rows: int, cols: int) -> Tuple[np.ndarray, np.ndarray]:
    """Two reused float32 buffers of shape (2, g, rows, cols), per thread and shape."""
    cache = getattr(_local, "bufs", None)
    if cache is None:
        cache = _local.bufs = {}
    key = (g, rows, cols)
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        cache[key] = tuple(np.empty((2,) + key, np.float32) for _ in range(2))
    return cache[key]


_TRIU = {}  # type: Dict[int, np.ndarray]


def _triu(k: int) -> np.ndarray:
    m = _TRIU.get(k)
    if m is None:
        m = _TRIU.setdefault(k, np.triu(np.ones((k, k), dtype=np.float32), 1))
    return m


def _block_overlap(lo: np.ndarray, hi: np.ndarray, area: np.ndarray, area_eps: np.ndarray,
                   rows: slice, cols: slice, thr: float, wh: np.ndarray,
                   tmp: np.ndarray) -> np.ndarray:
    """``(G, len(rows), len(cols))`` float32: 1.0 where IoU(row box, col box) > thr, else 0.

    ``lo`` / ``hi`` are ``(2, G, K)`` corners (x1, y1) / (x2, y2); ``wh`` and ``tmp`` reused
    ``(2, G, rows, cols)`` buffers (the result is a view of ``wh``). Same arithmetic as
    pytorch-ssd's ``iou_of`` (areas clamped at 0, ``+1e-5`` in the union, float32), so
    decisions match it bit for bit. x and y are computed together (half the calls), and every
    step writes into the reused buffers: large temporaries cost more in page faults than in
    arithmetic.
    """
    r, q = (slice(None), slice(None), rows, None), (slice(None), slice(None), None, cols)
    np.minimum(hi[r], hi[q], out=wh)
    np.maximum(lo[r], lo[q], out=tmp)
    np.subtract(wh, tmp, out=wh)                                  # overlap width w, height h
    w, h = wh
    union, inter = tmp
    # pytorch-ssd clamps w and h at 0 before multiplying. Clamping is the slowest op here, so
    # instead: with w > 0 the product is unchanged when h >= 0 and negative (IoU < 0, never
    # above a threshold >= 0) when h < 0; pairs with w <= 0 are masked out at the end.
    np.multiply(w, h, out=inter)
    np.greater(w, 0, out=w, casting="unsafe")                     # w > 0 as 1.0/0.0
    np.add(area[r[1:]], area_eps[q[1:]], out=union)
    np.subtract(union, inter, out=union)                          # union + eps
    np.divide(inter, union, out=inter)                            # IoU
    np.greater(inter, np.float32(thr), out=inter, casting="unsafe")
    np.multiply(w, inter, out=w)
    return w


def _limit_per_row(keep: np.ndarray, top_k: int) -> np.ndarray:
    if top_k is not None and 0 < top_k < keep.shape[1]:
        keep = keep & (np.cumsum(keep, axis=1) <= top_k)
    return keep


def _hard_nms(scores: np.ndarray, boxes: np.ndarray, conf_threshold: float,
              iou_threshold: float, candidate_size: int, top_k: int) -> _Picked:
    classes, idx, cand, valid = _candidates(scores, conf_threshold, candidate_size)
    if idx is None:
        return _empty()
    keep = _limit_per_row(_greedy_keep(boxes[idx], valid, iou_threshold), top_k)
    rows, cols = np.nonzero(keep)                                            # class-major
    return classes[rows].astype(np.int64), idx[rows, cols], cand[rows, cols]


def _hard_nms_agnostic(scores: np.ndarray, boxes: np.ndarray, conf_threshold: float,
                       iou_threshold: float, candidate_size: int, top_k: int) -> _Picked:
    fg = scores[:, 1:]
    prior, cls = np.nonzero(fg > conf_threshold)
    if prior.size == 0:
        return _empty()
    s = fg[prior, cls]
    order = np.lexsort((cls, prior, -s))[:candidate_size]
    prior, cls, s = prior[order], cls[order], s[order]
    keep = _limit_per_row(_greedy_keep(boxes[prior][None], np.ones((1, len(s)), bool),
                                       iou_threshold), top_k)[0]
    prior, cls, s = prior[keep], cls[keep] + 1, s[keep]
    order = np.lexsort((-s, cls))                                            # class-major
    return cls[order].astype(np.int64), prior[order], s[order]


def _soft_nms(scores: np.ndarray, boxes: np.ndarray, conf_threshold: float, sigma: float,
              top_k: int) -> _Picked:
    """Gaussian soft-NMS per class, following pytorch-ssd's ``soft_nms`` step by step."""
    out_cls, out_idx, out_s = [], [], []
    for c in range(1, scores.shape[1]):
        live = np.flatnonzero(scores[:, c] > conf_threshold)
        s = scores[live, c].copy()
        picked = 0
        while live.size:
            m = int(np.argmax(s))
            out_cls.append(c)
            out_idx.append(live[m])
            out_s.append(s[m])
            picked += 1
            if (top_k is not None and 0 < top_k == picked) or live.size == 1:
                break
            cur = boxes[live[m]]
            live[m], s[m] = live[-1], s[-1]
            live, s = live[:-1], s[:-1]
            ov = _iou(cur[None], boxes[live], _EPS)
            s = s * np.exp(-(ov * ov) / sigma)
            alive = s > conf_threshold
            live, s = live[alive], s[alive]
    return (np.asarray(out_cls, np.int64), np.asarray(out_idx, np.int64),
            np.asarray(out_s, np.float32))


def _empty() -> _Picked:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
