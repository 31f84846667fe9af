"""Latency statistics that a few slow iterations cannot move.

Percentiles (p50, p90, p99) are taken over every timed sample. ``mean`` is the mean of the
samples inside Tukey's fences (``[Q1 - 3·IQR, Q3 + 3·IQR]``, the margin at least 10 % of the
median): a page fault, a context switch or a neighbour's burst of work shows up in p99 and
``max`` but does not drag the mean, and the count of samples outside the fences is reported as
``outliers``. Warm-up iterations never reach this module.
"""
import math

import numpy as np

#: Tukey's "far out" factor: only samples well outside the box are treated as outliers.
FENCE = 3.0

STAT_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max")


def inlier_mask(samples, fence=FENCE):
    """``(N,) bool``: True for samples inside ``[Q1 - fence·IQR, Q3 + fence·IQR]`` (the margin
    at least 10 % of the median)."""
    x = np.asarray(samples, np.float64)
    if x.size < 4:
        return np.ones(x.shape, bool)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    # A floor of 10 % of the median: with near-identical samples the IQR alone would call
    # ordinary jitter an outlier.
    spread = max((q3 - q1) * fence, 0.1 * abs(med))
    return (x >= q1 - spread) & (x <= q3 + spread)


def summarize(samples, fence=FENCE):
    """Summary of latency samples in milliseconds.

    Args:
        samples: ``(N,)`` latencies in ms (N ≥ 1), one per timed iteration.
    Returns:
        dict with ``p50``, ``p90``, ``p99``, ``mean`` (of the inliers), ``std`` (of the inliers),
        ``min``, ``max`` (all ms, rounded to µs) and ``n``, ``outliers`` (counts).
    """
    x = np.asarray(samples, np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("expected at least one latency sample, got none")
    keep = inlier_mask(x, fence)
    inliers = x[keep]
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    out = {"p50": p50, "p90": p90, "p99": p99, "mean": inliers.mean(),
           "std": inliers.std(ddof=1) if inliers.size > 1 else 0.0,
           "min": x.min(), "max": x.max()}
    out = {k: round(float(v), 3) for k, v in out.items()}
    out["n"] = int(x.size)
    out["outliers"] = int(x.size - inliers.size)
    return out


def throughput(batch, mean_ms):
    """Images per second for ``batch`` images every ``mean_ms`` milliseconds (None if unknown)."""
    if not mean_ms or mean_ms <= 0 or math.isnan(mean_ms):
        return None
    return round(batch * 1000.0 / mean_ms, 2)
