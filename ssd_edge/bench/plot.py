"""PNG charts of one or more result documents; matplotlib is imported only here.

One figure: end-to-end latency (p50, with p99 as a tick) and throughput per device, model,
precision, backend and batch as horizontal bars, plus accuracy against speed (mAP over images/s)
when any row has an mAP. matplotlib's object API on the Agg canvas (no pyplot), as the
evaluation plots, so no display is touched.
"""
import os

from ..errors import SsdEdgeError, missing_extra
from ..fileio import atomic_path
from .report import _backend_label, table_rows

_COLOURS = {"fp32": "#4c72b0", "fp16": "#55a868", "int8": "#c44e52"}


def _labels(pairs, multi):
    out = []
    for device, r in pairs:
        text = "%s %s %s b%d" % (r.get("arch") or r["model"], r.get("precision") or "",
                                 _backend_label(r), r["batch"])
        out.append("%s · %s" % (device, text) if multi else text)
    return out


def _bars(ax, labels, values, colours, xlabel, ticks=None):
    y = list(range(len(labels)))
    ax.barh(y, values, color=colours)
    if ticks is not None:
        ax.plot(ticks, y, "|", color="black", markersize=8, label="p99")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    positive = [v for v in list(values) + list(ticks or []) if v and v > 0]
    if positive and max(positive) / min(positive) > 50:
        ax.set_xscale("log")
    ax.grid(True, axis="x", alpha=0.3)


def plot_results(docs, path):
    """Draw the charts for ``docs`` into ``path`` (PNG, written atomically); returns ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise missing_extra("matplotlib", "bench")
    pairs = table_rows(docs)
    if not pairs:
        raise SsdEdgeError("expected at least one measured case to plot, got none (all skipped "
                           "or failed)")
    multi = len(docs) > 1
    labels = _labels(pairs, multi)
    colours = [_COLOURS.get(r.get("precision"), "#8172b2") for _, r in pairs]
    mapped = [(d, r) for d, r in pairs if r.get("map")]
    ncols = 3 if mapped else 2
    height = max(3.5, 0.28 * len(pairs) + 1.5)
    fig = Figure(figsize=(6.5 * ncols, height), dpi=100)
    FigureCanvasAgg(fig)
    ax1 = fig.add_subplot(1, ncols, 1)
    _bars(ax1, labels, [r["latency_ms"]["end_to_end"]["p50"] for _, r in pairs], colours,
          "end-to-end latency per call, ms (p50; p99 tick)",
          [r["latency_ms"]["end_to_end"]["p99"] for _, r in pairs])
    ax2 = fig.add_subplot(1, ncols, 2)
    _bars(ax2, labels, [r.get("throughput_ips") or 0.0 for _, r in pairs], colours,
          "throughput, images/s")
    ax2.set_yticklabels([])
    if mapped:
        ax3 = fig.add_subplot(1, ncols, 3)
        for d, r in mapped:
            ax3.scatter([r["throughput_ips"]], [r["map"]["value"]],
                        color=_COLOURS.get(r.get("precision"), "#8172b2"))
            ax3.annotate(_labels([(d, r)], multi)[0], (r["throughput_ips"], r["map"]["value"]),
                         fontsize="x-small", xytext=(3, 3), textcoords="offset points")
        ax3.set_xlabel("throughput, images/s")
        ax3.set_ylabel("mAP (%s)" % mapped[0][1]["map"]["metric"])
        ax3.grid(True, alpha=0.3)
        ax3.set_title("accuracy vs speed")
    fig.suptitle("ssd-edge benchmarks: " + ", ".join(sorted(set(d for d, _ in pairs))),
                 fontsize="medium")
    fig.tight_layout()
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
