"""Detections: the result type every path of the runtime returns."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Detections for one frame.

    Attributes:
        boxes: ``(N, 4) float32`` pixel ``(x1, y1, x2, y2)`` in the frame (not clipped).
        scores: ``(N,) float32`` class probabilities.
        class_ids: ``(N,) int64`` class indices (1..C-1; 0 is background).
        labels: ``N`` class names.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: List[str] = field(default_factory=list)

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

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), [])

    def select(self, index: Any) -> "Detections":
        """Return the detections at ``index`` (a boolean mask or integer indices)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Detections(self.boxes[idx], self.scores[idx], self.class_ids[idx],
                          [self.labels[i] for i in idx] if self.labels else [])

    def to_list(self) -> List[Dict[str, Any]]:
        """JSON-ready list of ``{"box": [x1, y1, x2, y2], "score", "class_id", "label"}``."""
        out = []
        for i in range(len(self)):
            out.append({"box": [round(float(v), 2) for v in self.boxes[i]],
                        "score": round(float(self.scores[i]), 5),
                        "class_id": int(self.class_ids[i]),
                        "label": self.labels[i] if self.labels else str(int(self.class_ids[i]))})
        return out


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
