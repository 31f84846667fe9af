"""SSD prior (default box) generation, reproducing pytorch-ssd's ``generate_ssd_priors``."""
import math

import numpy as np


def generate_priors(levels, image_size, clamp=True):
    """Return ``(P, 4) float32`` centre-form priors ``(cx, cy, w, h)``, normalised to [0, 1].

    Order matches pytorch-ssd exactly: level by level; within a level rows (y) outer, columns
    (x) inner; per location ``[min, min]``, ``[sqrt(min*max)]*2``, then for each aspect ratio r
    ``[min*sqrt(r), min/sqrt(r)]`` and ``[min/sqrt(r), min*sqrt(r)]``. Centres are
    ``(i + 0.5) / (image_size / shrinkage)`` — the image-to-shrinkage scale, not the map size.

    Args:
        levels: sequence of :class:`ssd_edge.spec.PriorLevel`.
        image_size: side of the square input in pixels.
        clamp: clip all four values to [0, 1] (pytorch-ssd's default).
    """
    out = []
    for lv in levels:
        scale = image_size / lv.shrinkage
        # pytorch-ssd computes the per-box sizes in float64 Python math, then stores float32.
        sizes = [(lv.min_size, lv.min_size)]
        big = math.sqrt(lv.max_size * lv.min_size)
        sizes.append((big, big))
        for r in lv.aspect_ratios:
            r = math.sqrt(r)
            sizes.append((lv.min_size * r, lv.min_size / r))
            sizes.append((lv.min_size / r, lv.min_size * r))
        wh = np.array(sizes, dtype=np.float64) / image_size            # (A, 2)
        fm = lv.feature_map_size
        j, i = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")  # y outer, x inner
        cx = ((i.reshape(-1) + 0.5) / scale)[:, None]                    # (fm*fm, 1)
        cy = ((j.reshape(-1) + 0.5) / scale)[:, None]
        n_loc, n_box = fm * fm, wh.shape[0]
        level = np.empty((n_loc, n_box, 4), dtype=np.float64)
        level[..., 0] = cx
        level[..., 1] = cy
        level[..., 2] = wh[None, :, 0]
        level[..., 3] = wh[None, :, 1]
        out.append(level.reshape(-1, 4))
    priors = np.concatenate(out, axis=0).astype(np.float32)
    if clamp:
        np.clip(priors, 0.0, 1.0, out=priors)
    return priors
