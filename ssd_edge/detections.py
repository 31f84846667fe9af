"""Detections: the result type every path of the runtime returns.

A robot program iterates it, filters it with a boolean mask or indices, reads boxes in the
form it needs (``xyxy``, ``xywh``, ``normalized``), and hands it to supervision when installed::

    for d in dets[dets.scores > 0.6]:            # d: one Detection (box, score, class_id, ...)
        print(d.label, d.box, d.track_id)
    sv_dets = dets.to_supervision()               # supervision.Detections, same rows
"""
import collections
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

#: One detection, as iterating :class:`Detections` yields it. ``box``: (4,) float32 pixel
#: ``x1 y1 x2 y2``; ``track_id``: int, or None when the detections were not tracked.
Detection = collections.namedtuple("Detection", "box score class_id label track_id")


@dataclass(frozen=True)
class Detections:
    """Detections for one frame.

    Attributes:
        boxes: ``(N, 4) float32`` pixel ``(x1, y1, x2, y2)`` in the frame (not clipped).
        scores: ``(N,) float32`` class probabilities.
        class_ids: ``(N,) int64`` class indices (1..C-1; 0 is background).
        labels: ``N`` class names.
        track_ids: ``(N,) int64`` track ids when a tracker ran (-1: not yet a confirmed
            track), else ``None``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: List[str] = field(default_factory=list)
    track_ids: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", _shaped(self.boxes, np.float32, (-1, 4), "boxes"))
        object.__setattr__(self, "scores", _shaped(self.scores, np.float32, (-1,), "scores"))
        object.__setattr__(self, "class_ids", _shaped(self.class_ids, np.int64, (-1,),
                                                      "class_ids"))
        object.__setattr__(self, "labels", list(self.labels))
        n = len(self.boxes)
        if not (len(self.scores) == len(self.class_ids) == n):
            raise ValueError("boxes, scores and class_ids must have the same length, got %d, %d, %d"
                             % (n, len(self.scores), len(self.class_ids)))
        if self.labels and len(self.labels) != n:
            raise ValueError("expected %d labels, got %d" % (n, len(self.labels)))
        if self.track_ids is not None:
            ids = np.asarray(self.track_ids)
            if ids.ndim != 1 or len(ids) != n:
                raise ValueError("expected track_ids of shape (%d,), got %s" % (n, ids.shape))
            object.__setattr__(self, "track_ids", ids.astype(np.int64))

    def __len__(self) -> int:
        return len(self.boxes)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self._row(i)

    def __getitem__(self, index: Any) -> Any:
        """``dets[i]`` → :class:`Detection`; ``dets[mask]``, ``dets[[0, 2]]``, ``dets[1:]`` →
        Detections (a boolean mask must have length N)."""
        if isinstance(index, (int, np.integer)):
            return self._row(int(index))
        return self.select(index)

    def _row(self, i: int) -> Any:
        n = len(self)
        if not -n <= i < n:
            raise IndexError("detection %d out of range for %d detections" % (i, n))
        return Detection(self.boxes[i], float(self.scores[i]), int(self.class_ids[i]),
                         self.labels[i] if self.labels else str(int(self.class_ids[i])),
                         None if self.track_ids is None else int(self.track_ids[i]))

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), [])

    def select(self, index: Any) -> "Detections":
        """Return the detections at ``index`` (a boolean mask, integer indices or a slice)."""
        if isinstance(index, slice):
            idx = np.arange(len(self))[index]
        else:
            idx = np.asarray(index)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise IndexError("expected a boolean mask of shape (%d,), got %s"
                                     % (len(self), idx.shape))
                idx = np.flatnonzero(idx)
            idx = idx.astype(np.int64).reshape(-1)
        return Detections(self.boxes[idx], self.scores[idx], self.class_ids[idx],
                          [self.labels[i] for i in idx] if self.labels else [],
                          None if self.track_ids is None else self.track_ids[idx])

    def with_track_ids(self, track_ids: Any) -> "Detections":
        """A copy with ``track_ids`` ((N,) int; -1 for an unconfirmed track) attached."""
        return Detections(self.boxes, self.scores, self.class_ids, self.labels, track_ids)

    # ------------------------------------------------------------------ box forms
    @property
    def xyxy(self) -> np.ndarray:
        """``(N, 4) float32`` pixel ``x1 y1 x2 y2`` (the same array as ``boxes``)."""
        return self.boxes

    @property
    def xywh(self) -> np.ndarray:
        """``(N, 4) float32`` pixel ``x1 y1 w h`` (top-left corner, width, height)."""
        out = self.boxes.copy()
        out[:, 2:] -= out[:, :2]
        return out

    @property
    def area(self) -> np.ndarray:
        """``(N,) float32`` box areas in square pixels."""
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def normalized(self, frame_size: Sequence[float]) -> np.ndarray:
        """``(N, 4) float32`` ``x1 y1 x2 y2`` divided by ``frame_size=(W, H)``: in [0, 1]
        for a box inside the frame (boxes are not clipped)."""
        w, h = float(frame_size[0]), float(frame_size[1])
        return self.boxes / np.array([w, h, w, h], np.float32)

    # ------------------------------------------------------------------ conversions
    def to_list(self) -> List[Dict[str, Any]]:
        """JSON-ready list of ``{"box": [x1, y1, x2, y2], "score", "class_id", "label"}`` plus
        ``"track_id"`` when tracked."""
        out = []
        for i in range(len(self)):
            item = {"box": [round(float(v), 2) for v in self.boxes[i]],
                    "score": round(float(self.scores[i]), 5),
                    "class_id": int(self.class_ids[i]),
                    "label": self.labels[i] if self.labels else str(int(self.class_ids[i]))}
            if self.track_ids is not None:
                item["track_id"] = int(self.track_ids[i])
            out.append(item)
        return out



    def to_dict(self) -> Dict[str, Any]:
        """``{"detections": to_list()}``: the JSON object :meth:`from_dict` reads back."""
        return {"detections": self.to_list()}

    @classmethod
    def from_dict(cls, data: Any) -> "Detections":
        """Detections from :meth:`to_dict` output, a detection line, or a bare ``to_list()``."""
        items = data.get("detections", []) if isinstance(data, dict) else list(data)
        boxes = np.array([d["box"] for d in items], np.float32).reshape(-1, 4)
        tracked = bool(items) and all("track_id" in d for d in items)
        return cls(boxes, np.array([d["score"] for d in items], np.float32),
                   np.array([d["class_id"] for d in items], np.int64),
                   [str(d.get("label", d["class_id"])) for d in items],
                   np.array([d["track_id"] for d in items], np.int64) if tracked else None)

    def to_supervision(self) -> Any:
        """A ``supervision.Detections`` with the same rows (``tracker_id`` when tracked,
        ``data["class_name"]`` the labels); needs ``pip install supervision``."""
        sv = _supervision()
        data = {"class_name": np.array(self.labels, dtype=str)} if self.labels else {}
        return sv.Detections(xyxy=self.boxes.astype(np.float32), confidence=self.scores,
                             class_id=self.class_ids.astype(int), tracker_id=self.track_ids,
                             data=data)

    @classmethod
    def from_supervision(cls, sv_dets: Any, labels: Optional[Sequence[str]] = None) -> "Detections":
        """Detections from a ``supervision.Detections`` (``labels``: list indexed by class id,
        else ``data["class_name"]`` when present)."""
        n = len(sv_dets)
        conf = sv_dets.confidence if sv_dets.confidence is not None else np.ones(n, np.float32)
        cids = sv_dets.class_id if sv_dets.class_id is not None else np.zeros(n, np.int64)
        if labels is not None:
            names = [labels[int(c)] for c in cids]
        else:
            names = [str(x) for x in sv_dets.data.get("class_name", [])]
        return cls(sv_dets.xyxy, conf, cids, names, sv_dets.tracker_id)

    def draw(self, frame: np.ndarray, overlay: Any = "box,labels,conf",
             alpha: float = 0.25) -> np.ndarray:
        """A copy of ``frame`` ((H, W, 3) uint8 BGR) with these detections drawn (OpenCV), as
        ``ssd-live --overlay`` draws them (track ids shown when tracked)."""
        from .runtime.stream.overlay import OverlayOptions, draw
        opts = overlay if isinstance(overlay, OverlayOptions) else OverlayOptions.parse(
            overlay, alpha=alpha, fps=False)
        return draw(frame, self, opts)


def _supervision() -> Any:
    try:
        import supervision
    except ImportError:
        from .errors import SsdEdgeError
        raise SsdEdgeError("expected the supervision package for to_supervision(), got none "
                           "installed; pip install supervision")
    return supervision


def _shaped(value: Any, dtype: Any, shape: Sequence[int], name: str) -> np.ndarray:
    """``value`` as ``dtype`` with ``shape`` (-1 = any length); an empty array of any shape is
    the empty result. Anything else is refused, never reshaped: a ``(2, 2)`` array is not one
    box."""
    arr = np.asarray(value, dtype)
    if arr.size == 0:
        return arr.reshape((0,) + tuple(shape[1:]))
    if arr.ndim != len(shape) or any(want != -1 and got != want
                                     for got, want in zip(arr.shape, shape)):
        raise ValueError("expected %s of shape (N%s), got %s"
                         % (name, "".join(", %d" % d for d in shape[1:]), arr.shape))
    return arr
