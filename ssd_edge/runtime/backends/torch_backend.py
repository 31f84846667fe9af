"""PyTorch backend: a ``.pth`` checkpoint through the model zoo, on the CPU or a CUDA GPU.

On the CPU it is the plain tensor-in/tensor-out backend (the Detector preprocesses and runs
``ssd_edge.postprocess``). On a CUDA GPU it owns the whole frame path
(:class:`ssd_edge.runtime.torch_gpu.FramePath`): the uint8 frames are uploaded once (or are
already on the device), resized and normalised there, the network runs in FP16 (softmax and box
decoding in FP32) replayed from a CUDA graph per input shape, NMS runs as batched torch ops with
the CPU's exact results, and only the detections come back.
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
        fp16: FP16 weights (CUDA only); None = FP16 on CUDA, FP32 on the CPU.
        cuda_graph: replay the network from CUDA graphs (CUDA only); None = on with CUDA.
        torch_compile: ``torch.compile`` the network (``mode="reduce-overhead"`` on CUDA);
            off by default: the first call per input shape compiles for tens of seconds.
    """

    def __init__(self, artifact, threads=None, device=None, fp16=None, cuda_graph=None,
                 torch_compile=False):
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
        try:
            self.dev = torch.device(device)
        except RuntimeError:
            self.dev = None
        if self.dev is None or self.dev.type not in ("cpu", "cuda"):
            raise SsdEdgeError("expected device cpu or cuda[:N] for the torch backend, got %r"
                               % (device,))
        cuda = self.dev.type == "cuda"
        if cuda and not torch.cuda.is_available():
            raise SsdEdgeError("expected a CUDA GPU for device %r, got none visible to torch; "
                               "use device='cpu'" % (device,))
        for name, value in (("fp16", fp16), ("cuda_graph", cuda_graph)):
            if value and not cuda:
                raise SsdEdgeError("expected %s only with a CUDA device, got device %r; drop it "
                                   "or use device='cuda'" % (name, str(self.dev)))
        if threads and not cuda:
            torch.set_num_threads(int(threads))
        self.half = cuda if fp16 is None else bool(fp16)
        self.precision = "fp16" if self.half else "fp32"
        self.device = str(self.dev)
        self.inputs = ["input_0"]
        self.outputs = ["scores", "boxes"]
        self.batch_size = None
        model = model.eval().to(self.dev)
        if cuda:
            from ..torch_gpu import FramePath
            self.path = FramePath(model, artifact.spec, self.dev, half=self.half,
                                  cuda_graph=True if cuda_graph is None else bool(cuda_graph),
                                  compile=bool(torch_compile))
            self.model = model
            self.owns_frame_path = True
        else:
            self.path = None
            self.model = model if not torch_compile else torch.compile(model)
            # The Detector runs preprocessing and ssd_edge.postprocess around this instance.
            self.owns_frame_path = False

    @property
    def last_timings(self):
        return self.path.last_timings if self.path is not None else None

    def detect_batch(self, frames, options):
        """BGR uint8 frames (a list of ``(H, W, 3)`` arrays, or a ``(N, H, W, 3)`` uint8
        tensor, e.g. already on the GPU) → one :class:`Detections` per frame (CUDA only)."""
        return self.path.detect(frames, options)

    def __call__(self, feeds):
        """``{"input_0": (B, 3, H, W) float32}`` →
        ``{"scores": (B, P, C) float32, "boxes": (B, P, 4) float32}``."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(feeds["input_0"], np.float32)).to(self.dev)
        if self.path is not None:
            scores, boxes = self.path.forward(x.half() if self.half else x)
        else:
            with torch.inference_mode():
                scores, boxes = self.model(x)[:2]
        return {"scores": scores.float().cpu().numpy(), "boxes": boxes.float().cpu().numpy()}

    def close(self):
        self.model = None
        self.path = None
