"""Real models and photos from ``../shared/real`` (tests skip without it), and how detections are
compared with UltraFace's Predictor's recorded ones."""
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = os.path.join(os.path.dirname(ROOT), "shared", "real")
ULTRAFACE = os.path.join(REAL, "models", "ultraface")
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ultraface_reference.json")


def need_real(*parts):
    """Return the path under ../shared/real, or skip the test naming what is missing."""
    path = os.path.join(REAL, *parts)
    if not os.path.exists(path):
        pytest.skip("real models/photos not available: %s is absent (a clone without "
                    "../shared/real)" % path)
    return path


BOX_TOL = 0.5      # pixels
SCORE_TOL = 1e-4


def as_rows(dets):
    """Detections → ``(N, 6)`` float64 rows ``x1 y1 x2 y2 score class``."""
    return np.concatenate([dets.boxes.astype(np.float64), dets.scores[:, None].astype(np.float64),
                           dets.class_ids[:, None].astype(np.float64)], axis=1) \
        if len(dets.scores) else np.zeros((0, 6))


def mismatch(got, want, box_tol=BOX_TOL, score_tol=SCORE_TOL):
    """None when ``got`` equals ``want`` (same count; each reference detection paired with one of
    the same class within ``box_tol`` px and ``score_tol``), else a line saying what differs."""
    want = np.asarray(want, np.float64).reshape(-1, 6)
    if len(got) != len(want):
        return "count %d, reference %d" % (len(got), len(want))
    free = np.ones(len(got), bool)
    for row in want:
        same = free & (got[:, 5] == row[5])
        err = np.abs(got[:, :4] - row[:4]).max(axis=1) if len(got) else np.zeros(0)
        err = np.where(same, err, np.inf)
        k = int(np.argmin(err)) if len(err) else -1
        if k < 0 or err[k] > box_tol or abs(got[k, 4] - row[4]) > score_tol:
            return "reference %s has no match (nearest box off by %.3g px, score %s)" % (
                np.round(row, 4).tolist(), err[k] if k >= 0 else np.inf,
                got[k, 4] if k >= 0 else None)
        free[k] = False
    return None


def worst(got, want):
    """``(max box error px, max score error)`` over detections paired as :func:`mismatch` does."""
    want = np.asarray(want, np.float64).reshape(-1, 6)
    box = score = 0.0
    free = np.ones(len(got), bool)
    for row in want:
        err = np.where(free & (got[:, 5] == row[5]), np.abs(got[:, :4] - row[:4]).max(axis=1),
                       np.inf)
        k = int(np.argmin(err))
        free[k] = False
        box, score = max(box, err[k]), max(score, abs(got[k, 4] - row[4]))
    return box, score
