"""PyTorch backend: a ``.pth`` checkpoint through the model zoo, on the CPU or a CUDA GPU.

On CUDA the weights and input run in FP16. This is the plain tensor-in/tensor-out path; the
whole-frame GPU path (uint8 upload, on-device resize and normalisation, CUDA graph, batched NMS
in torch) plugs in later as ``detect_batch(frames, options)`` on this class, which the Detector
already prefers whenever a backend has it.
"""
import numpy as np

from ...errors import SsdEdgeError, missing_extra


class TorchBackend:
    """A zoo ``nn.Module`` behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``pth`` (its ``model``
            is the module :func:`ssd_edge.models.load_checkpoint` built).
        threads: ``torch.set_num_threads`` (process-wide) on the CPU; None leaves it.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``; None = CUDA when available, else CPU.
    """

    def __init__(self, artifact, threads=None, device=None):
        try:
            import torch
        except ImportError:
            raise missing_extra("torch", "export")
        self._torch = torch
        model = artifact.model
        if model is None:
            from ...models import load_checkpoint
            model, _ = load_checkpoint(artifact.path)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dev = torch.device(device)
        if self.dev.type == "cuda" and not torch.cuda.is_available():
            raise SsdEdgeError("expected a CUDA GPU for device %r, got none visible to torch; "
                               "use device='cpu'" % (device,))
        if self.dev.type not in ("cpu", "cuda"):
            raise SsdEdgeError("expected device cpu or cuda[:N] for the torch backend, got %r"
                               % (device,))
        if threads and self.dev.type == "cpu":
            torch.set_num_threads(int(threads))
        self.half = self.dev.type == "cuda"
        model = model.eval().to(self.dev)
        self.model = model.half() if self.half else model
        self.precision = "fp16" if self.half else "fp32"
        self.device = str(self.dev)
        self.inputs = ["input_0"]
        self.outputs = ["scores", "boxes"]
        self.batch_size = None

    def __call__(self, feeds):
        """``{"input_0": (B, 3, H, W) float32}`` →
        ``{"scores": (B, P, C) float32, "boxes": (B, P, 4) float32}``."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(feeds["input_0"], np.float32)).to(self.dev)
        if self.half:
            x = x.half()
        with torch.inference_mode():
            scores, boxes = self.model(x)[:2]
        return {"scores": scores.float().cpu().numpy(), "boxes": boxes.float().cpu().numpy()}

    def close(self):
        self.model = None
