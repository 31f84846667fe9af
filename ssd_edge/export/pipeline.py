"""ssd-export's orchestration: the stages in order, the parity pass after each file, a summary.

What the stages write is in :mod:`ssd_edge.export.stages`, how each file is checked in
:mod:`ssd_edge.export.verify`; this module holds what they share and the closing table.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from . import parity as par

log = logging.getLogger("ssd_edge.export")


@dataclass
class WrittenFile:
    """One file written by the export, for the closing summary."""

    path: str
    kind: str                        # onnx | ort | engine | tflite | ncnn | coreml
    precision: str
    nms: str = "none"
    parity: Optional[par.Parity] = None
    notes: List[str] = field(default_factory=list)
    reference: bool = False          # the file the parity reference ran on (never compared)

    @property
    def size_mb(self):
        """Size on disk: a folder (.mlpackage) summed, an .ncnn.param with its .bin."""
        paths = [self.path] + ([self.path[:-len(".param")] + ".bin"]
                               if self.path.endswith(".ncnn.param") else [])
        if os.path.isdir(self.path):
            paths = [os.path.join(r, f) for r, _, fs in os.walk(self.path) for f in fs]
        return sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) / 1e6


@dataclass
class Source:
    """What the export starts from: a PyTorch model (checkpoint) or an exported FP32 ONNX."""

    spec: object
    stem: str                        # output path without extension
    model: object = None             # torch.nn.Module or None when starting from ONNX
    onnx_path: Optional[str] = None  # given FP32 ONNX when starting from one
    original: Optional[str] = None   # a foreign ONNX that onnx_path is the described copy of


def artifact_path(stem, precision="fp32", nms="none", ext="onnx"):
    """``model.onnx``, ``model.fp16.onnx``, ``model.int8.nms-onnx.onnx``, ``model.int8.ort`` …"""
    parts = [stem]
    if precision != "fp32":
        parts.append(precision)
    if nms != "none":
        parts.append("nms-" + nms)
    return ".".join(parts) + "." + ext


def run_export(source, options, echo=print, run_engine=None, run_file=None):
    """Write every artifact ``options`` asks for from ``source``; return the WrittenFile list.

    The files are written by :data:`ssd_edge.export.stages.STAGES` in order, and each is
    checked by the parity pass (:func:`ssd_edge.export.verify.verify`) as soon as it exists.
    ``run_engine(engine_path, inputs (N, 3, H, W) float32) -> {output name: stacked array}``
    runs a built engine for its check (the CLI passes the ``trt`` backend's
    :func:`~ssd_edge.runtime.backends.trt.run_engine`; export never imports the runtime).
    Without it an engine is built but not run. ``run_file`` likewise runs a written LiteRT or
    ncnn file (``{kind: fn(path, inputs) -> outputs}``,
    :data:`ssd_edge.runtime.mobile_outputs.RUNNERS`).
    """
    from .stages import STAGES, prepare
    from .verify import verify
    run = prepare(source, options, echo, dict(run_file or {}, engine=run_engine))
    arts = []
    for stage in STAGES:
        for art in stage(run):
            verify(art, run)
            arts.append(art)
    if run.ref is not None:
        echo("parity reference: %s on %d inputs" % (run.ref_name, len(run.inputs)))
    return arts


def summary_lines(arts):
    """The closing table: artifact, size, precision, NMS, parity figures, notes."""
    rows = [("artifact", "size", "precision", "nms", "parity vs reference")]
    for a in arts:
        rows.append((a.path, "%.1f MB" % a.size_mb, a.precision, a.nms,
                     a.parity.line() if a.parity else "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    for a in arts:
        lines += ["  %s: %s" % (os.path.basename(a.path), n) for n in a.notes if n]
    return lines
