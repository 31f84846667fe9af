"""OpenCV DNN backend: ``cv2.dnn.readNetFromONNX`` on the CPU, where ONNX Runtime is missing.

``threads`` calls ``cv2.setNumThreads``, which is process-wide in OpenCV (it also affects
``cv2.resize`` and every other OpenCV call in the process).
"""
import os

from ...errors import SsdEdgeError, missing_extra


class OpenCVBackend:
    """A ``cv2.dnn.Net`` behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``onnx``.
        threads: OpenCV's (process-wide) thread count; None leaves it.
        device: None or ``"cpu"`` (OpenCV's CUDA target needs a custom build; not used here).
    """

    def __init__(self, artifact, threads=None, device=None):
        try:
            import cv2
        except ImportError:
            raise missing_extra("cv2", "cv")
        if device not in (None, "cpu"):
            raise SsdEdgeError("expected device cpu for the opencv backend, got %r" % (device,))
        if threads:
            cv2.setNumThreads(int(threads))
        try:
            self.net = cv2.dnn.readNetFromONNX(artifact.path)
        except cv2.error as e:
            # cv2 errors end with "> detail" lines, sometimes a bare ">": keep the last real one.
            lines = [ln.strip().lstrip(">").strip() for ln in str(e).splitlines()]
            lines = [ln for ln in lines if ln]
            raise SsdEdgeError("OpenCV DNN cannot load %s: %s; use the ort or openvino backend"
                               % (os.path.basename(artifact.path), lines[-1] if lines else e))
        # OpenCV's defaults are its own CPU implementation; OpenCV 5's graph engine warns when a
        # target is set explicitly, so nothing is set here.
        info = artifact.onnx
        self.inputs = [t.name for t in info.inputs]
        self.outputs = [t.name for t in info.outputs]
        dim = info.inputs[0].shape[0] if info.inputs[0].shape else None
        self.batch_size = dim if isinstance(dim, int) and dim > 0 else None
        self.device = "CPU"

    def __call__(self, feeds):
        """Run the net; ``feeds`` maps input names to arrays; returns output name → array."""
        for name, value in feeds.items():
            self.net.setInput(value, name)
        outs = self.net.forward(self.outputs)
        return dict(zip(self.outputs, outs))

    def close(self):
        self.net = None
