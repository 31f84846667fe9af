"""Run a written LiteRT or ncnn file on preprocessed inputs: what the exporter's parity pass
needs, handed to :func:`ssd_edge.export.pipeline.run_export` by ``ssd-export`` (export never
imports the runtime; the runtime runs the files).
"""
import numpy as np


def tflite_outputs(path, inputs, threads=None):
    """Run a ``.tflite`` on ``inputs (N, 3, H, W)`` one image at a time through the ``litert``
    backend; returns ``{"scores": (N, P, C), "boxes": (N, P, 4)}`` float32."""
    from .artifact import open_artifact
    from .backends.litert import LiteRTBackend
    backend = LiteRTBackend(open_artifact(path), threads=threads)
    try:
        outs = [backend({"input_0": x[None]}) for x in inputs]
    finally:
        backend.close()
    return {k: np.concatenate([o[k] for o in outs]) for k in ("scores", "boxes")}


def ncnn_outputs(path, inputs, threads=None):
    """Run an ``.ncnn.param`` on ``inputs (N, 3, H, W)`` through the ``ncnn`` backend (FP32
    files with ncnn's half precision off); ``{"scores": (N, P, C), "boxes": (N, P, 4)}``."""
    from .artifact import open_artifact
    from .backends.ncnn import NcnnBackend
    backend = NcnnBackend(open_artifact(path), threads=threads)
    try:
        return backend({"input_0": np.asarray(inputs, np.float32)})
    finally:
        backend.close()


#: artifact kind → runner, as ``run_export(..., run_file=RUNNERS)`` takes it.
RUNNERS = {"tflite": tflite_outputs, "ncnn": ncnn_outputs}
