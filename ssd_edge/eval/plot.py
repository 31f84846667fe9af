"""Precision-recall plot (PNG) of an evaluation result; matplotlib is imported only here.

Uses matplotlib's object API with the Agg canvas (no pyplot), so it never touches a display or
the caller's global backend.
"""
import os

from ..errors import SsdEdgeError, missing_extra
from ..fileio import atomic_path


def plot_pr_curves(result, path, title=None):
    """Draw ``result["pr_curves"]`` (see :func:`ssd_edge.eval.evaluate`) to ``path`` as PNG.

    One curve per class with ground truth, labelled with its AP; the title carries the mAP.
    Written atomically. Returns ``path``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise missing_extra("matplotlib", "eval")
    curves = result.get("pr_curves")
    if not curves:
        raise SsdEdgeError("expected an evaluation result with pr_curves, got keys %s"
                           % ", ".join(sorted(result)))
    fig = Figure(figsize=(7, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    recall = curves["recall"]
    # The curves are at IoU 0.5, so COCO results label them with AP50.
    key, tag = ("per_class_ap50", "AP50") if "per_class_ap50" in result else ("per_class", "AP")
    per_class = result.get(key, {})
    for name, precision in curves["precision"].items():
        ap = per_class.get(name, per_class.get(str(name)))
        label = "%s (%s %.3f)" % (name, tag, ap) if ap is not None else str(name)
        ax.plot(recall, precision, linewidth=1.5, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.grid(True, alpha=0.3)
    metric = result.get("metric", "")
    ax.set_title(title or "%s mAP %.4f — precision/recall at IoU %s"
                 % (metric, result.get("map", float("nan")), curves.get("iou", 0.5)))
    if curves["precision"]:
        ax.legend(loc="lower left", fontsize="small", ncol=1 if len(curves["precision"]) < 12 else 2)
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
