"""ncnn backend: ``.ncnn.param`` + ``.ncnn.bin`` written by pnnx (FP32 or FP16 storage).

ncnn turns on FP16 (and BF16) storage and FP16 arithmetic by default wherever the CPU can
convert or compute half precision. For an FP32 artifact they are all turned off, so the numbers
match the other backends; an FP16 artifact keeps ncnn's defaults. ncnn has no batch axis: a batch
is run image by image. ``ncnn.Mat(array)`` wraps the numpy memory without a copy, so each input
array is kept alive until its outputs are extracted (a freed array yields garbage outputs).
"""
import os

import numpy as np

from ...errors import SsdEdgeError, missing_extra

# pnnx's blob names for the first input and the two outputs.
_IN, _OUTS = "in0", ("out0", "out1")


class NcnnBackend:
    """An ``ncnn.Net`` behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``ncnn``.
        threads: ncnn threads (None = one per core).
        device: None or ``"cpu"`` (ncnn's Vulkan path is not used here).
    """

    def __init__(self, artifact, threads=None, device=None):
        try:
            import ncnn
        except ImportError:
            raise missing_extra("ncnn", "mobile")
        from ...mobileinfo import ncnn_bin_path
        if device not in (None, "cpu", "CPU"):
            raise SsdEdgeError("expected device cpu (or none) for the ncnn backend, got %r"
                               % device)
        self._ncnn = ncnn
        self.device = "cpu"
        self.precision = artifact.precision
        net = ncnn.Net()
        half = artifact.precision == "fp16"
        for flag in ("use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
                     "use_bf16_storage"):
            if not half and hasattr(net.opt, flag):
                setattr(net.opt, flag, False)
        net.opt.num_threads = int(threads or os.cpu_count() or 1)
        if net.load_param(artifact.path) != 0 or net.load_model(ncnn_bin_path(artifact.path)) != 0:
            raise SsdEdgeError("ncnn cannot load %s (+ .bin); expected files written by pnnx "
                               "(ssd-export --ncnn)" % artifact.path)
        names = list(net.output_names())
        missing = [n for n in (_IN,) + _OUTS if n not in list(net.input_names()) + names]
        if missing:
            raise SsdEdgeError("expected pnnx blob names in0, out0, out1 in %s, got inputs %s "
                               "outputs %s" % (artifact.path, list(net.input_names()), names))
        self.net = net
        self.inputs = ["input_0"]
        self.outputs = ["scores", "boxes"]
        self.batch_size = None

    def __call__(self, feeds):
        """Run ``input_0 (B, 3, H, W) float32``; returns ``scores (B, P, C)``, ``boxes (B, P, 4)``."""
        batch = np.asarray(feeds[self.inputs[0]], np.float32)
        results = {name: [] for name in self.outputs}
        for image in batch:
            keep = np.ascontiguousarray(image)          # the Mat points into this memory
            ex = self.net.create_extractor()
            ex.input(_IN, self._ncnn.Mat(keep))
            for name, blob in zip(self.outputs, _OUTS):
                ret, mat = ex.extract(blob)
                if ret != 0:
                    raise SsdEdgeError("ncnn failed to compute %s (code %d)" % (blob, ret))
                results[name].append(np.array(mat, dtype=np.float32))
            del keep
        return {name: np.stack(v) for name, v in results.items()}

    def close(self):
        if getattr(self, "net", None) is not None:
            self.net.clear()
        self.net = None
