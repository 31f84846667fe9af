"""SSD prior (default box) generation: pytorch-ssd's ``generate_ssd_priors`` and UltraFace's
per-axis ``generate_priors``, which agree wherever both apply (square input, one min size)."""
import math

import numpy as np


def level_box_sizes(level):
    """Return the level's box sizes ``[(w, h), ...]`` in input pixels, in prior order.

    Every min size as a square; pytorch-ssd's ``sqrt(min * max)`` square when ``max_size`` is
    set; then for each min size and ratio r ``[min*sqrt(r), min/sqrt(r)]`` and
    ``[min/sqrt(r), min*sqrt(r)]``. With one min size this is pytorch-ssd's order; with several
    and no ratios it is UltraFace's ``min_boxes`` order.
    """
    # Python float64 math, as both upstreams compute the sizes before storing float32.
    sizes = [(m, m) for m in level.min_size]
    if level.max_size is not None:
        big = math.sqrt(level.max_size * level.min_size[0])
        sizes.append((big, big))
    for m in level.min_size:
        for r in level.aspect_ratios:
            r = math.sqrt(r)
            sizes.append((m * r, m / r))
            sizes.append((m / r, m * r))
    return sizes


def generate_priors(levels, input_size, clamp=True):
    """Return ``(P, 4) float32`` centre-form priors ``(cx, cy, w, h)``, normalised to [0, 1].

    Order: level by level; within a level rows (y) outer, columns (x) inner; per location the
    boxes of :func:`level_box_sizes`. Centres are ``(i + 0.5) / (W / shrinkage_x)`` and
    ``(j + 0.5) / (H / shrinkage_y)`` — the image-to-shrinkage scale, not the map size, as
    upstream; box widths divide by W and heights by H.

    Args:
        levels: sequence of :class:`ssd_edge.spec.PriorLevel`.
        input_size: ``(H, W)`` of the input in pixels, or one int for a square input.
        clamp: clip all four values to [0, 1] (both upstreams' default).
    """
    if isinstance(input_size, (int, float)):
        input_size = (input_size, input_size)
    height, width = float(input_size[0]), float(input_size[1])
    out = []
    for lv in levels:
        scale_y = height / lv.shrinkage[0]
        scale_x = width / lv.shrinkage[1]
        wh = np.array(level_box_sizes(lv), dtype=np.float64) / np.array([width, height])  # (A, 2)
        fh, fw = lv.feature_map_size
        j, i = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")  # y outer, x inner
        cx = ((i.reshape(-1) + 0.5) / scale_x)[:, None]                  # (fh*fw, 1)
        cy = ((j.reshape(-1) + 0.5) / scale_y)[:, None]
        level = np.empty((fh * fw, wh.shape[0], 4), dtype=np.float64)
        level[..., 0] = cx
        level[..., 1] = cy
        level[..., 2] = wh[None, :, 0]
        level[..., 3] = wh[None, :, 1]
        out.append(level.reshape(-1, 4))
    priors = np.concatenate(out, axis=0).astype(np.float32)
    if clamp:
        np.clip(priors, 0.0, 1.0, out=priors)
    return priors
