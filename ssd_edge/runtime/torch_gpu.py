"""The torch backend's whole frame path on one device: uint8 frames → :class:`Detections`.

On a CUDA GPU every arrow of docs/architecture.md §2 runs on the device: the uint8 BGR frames are uploaded
once (or are already there, as a hardware decoder leaves them), resized and normalised there,
the network runs (FP16 weights optional, replayed from a CUDA graph per input shape, or through
``torch.compile(mode="reduce-overhead")``), NMS runs as batched torch ops
(:mod:`ssd_edge.runtime.torch_nms`), and only the final detections come back. The same code
runs on CPU tensors, which is how it is tested without a GPU.

Resize: ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
antialias=False)`` has ``cv2.resize(INTER_LINEAR)``'s pixel-centre convention and edge clamping;
the result is rounded to integers, as ``cv2.resize`` on a uint8 image is, before ``(x - mean) /
std``. OpenCV rounds through 11-bit fixed-point weights, so the two differ by at most 1 grey
level per pixel (at most ``1 / std`` after normalisation) and agree exactly on most pixels.

torch is imported inside the functions: this module is only imported by the torch backend.
"""
import logging
import time

import numpy as np

from ..errors import SsdEdgeError
from .torch_nms import postprocess_options

log = logging.getLogger("ssd_edge.runtime")
_CHUNK_PIXELS = 1 << 25       # frames converted to float per step: bounds the temporary memory


class TorchPreprocessor:
    """BGR uint8 frames → the network's ``(N, 3, H, W)`` input, on ``device``.

    Args:
        spec: the :class:`~ssd_edge.spec.DetectorSpec` (``input_size`` (H, W), ``mean``,
            ``std``, ``channel_order``).
        device: torch device the work (and the result) lives on.
        dtype: result dtype (``torch.float32``, or ``torch.float16`` for FP16 weights).
    """

    def __init__(self, spec, device, dtype=None):
        import torch
        self.size = tuple(int(v) for v in spec.input_size)                   # (H, W)
        self.order = [2, 1, 0] if spec.channel_order == "RGB" else [0, 1, 2]
        self.device = torch.device(device)
        self.dtype = dtype or torch.float32
        self.mean = torch.tensor(spec.mean, dtype=torch.float32,
                                 device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def __call__(self, frames):
        """``frames``: a ``(N, H, W, 3) uint8`` tensor (any device) or a list of ``(H_i, W_i,
        3) uint8`` numpy arrays / tensors. Returns ``((N, 3, H, W) tensor of self.dtype,
        [(W_i, H_i)] frame sizes)``."""
        import torch
        groups = _same_size_groups(frames)
        n = sum(len(idx) for idx, _ in groups)
        h, w = self.size
        out = torch.empty((n, 3, h, w), dtype=self.dtype, device=self.device)
        sizes = [None] * n
        for idx, batch in groups:
            fh, fw = int(batch.shape[1]), int(batch.shape[2])
            step = max(1, _CHUNK_PIXELS // (fh * fw * 3))
            for s in range(0, len(idx), step):
                x = self.normalise(batch[s:s + step].to(self.device, non_blocking=True))
                if len(groups) == 1:                      # indices are 0..n-1 in order
                    out[s:s + step].copy_(x)
                else:
                    out.index_copy_(0, torch.as_tensor(idx[s:s + step], device=self.device), x)
            for i in idx:
                sizes[i] = (fw, fh)
        return out, sizes

    def normalise(self, x):
        """``(N, H, W, 3) uint8`` on the device → ``(N, 3, h, w)`` resized, normalised."""
        import torch.nn.functional as F
        h, w = self.size
        # NHWC → NCHW as a view (channels-last strides), so the float copy and the resize read
        # the frame once; the channel swap happens on the small resized image.
        y = x.permute(0, 3, 1, 2).float()
        if tuple(y.shape[2:]) != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False,
                              antialias=False)
            y = y.round_().clamp_(0, 255)                 # cv2.resize returns uint8 here
        y = y[:, self.order]
        return ((y - self.mean) / self.std).contiguous().to(self.dtype)


def _same_size_groups(frames):
    """``[(indices, (n, H, W, 3) uint8 tensor)]`` grouping the frames by size, in order."""
    import torch
    if isinstance(frames, torch.Tensor):
        _check_tensor(frames, batch=True)
        return [(list(range(frames.shape[0])), frames)]
    frames = list(frames)
    by_size = {}
    for i, f in enumerate(frames):
        if isinstance(f, torch.Tensor):
            _check_tensor(f, batch=False)
        else:
            from ..preprocess import check_frame
            check_frame(f)
        by_size.setdefault(tuple(f.shape), []).append(i)
    groups = []
    for idx in by_size.values():
        items = [frames[i] for i in idx]
        tensors = [f for f in items if isinstance(f, torch.Tensor)]
        if not tensors:
            batch = torch.from_numpy(np.stack(items))
        else:
            batch = torch.stack([torch.as_tensor(f, device=tensors[0].device) for f in items])
        groups.append((idx, batch))
    return groups


def _check_tensor(t, batch):
    import torch
    want = 4 if batch else 3
    if t.dtype != torch.uint8 or t.dim() != want or t.shape[-1] != 3 or 0 in t.shape[-3:-1]:
        raise SsdEdgeError("expected frames as a %suint8 tensor with 3 BGR channels last, got "
                           "shape %s and dtype %s" % ("(N, H, W, 3) " if batch else "(H, W, 3) ",
                                                      tuple(t.shape), t.dtype))


def network(model, half=False):
    """``run(x) -> (scores (B, P, C) float32, boxes (B, P, 4) float32)`` for an SSD module.

    With ``half`` the module is converted to FP16 in place; its backbone and heads run in FP16
    while the softmax and the box decoding run in FP32 on float32 priors (what ssd-export's FP16
    artifact does too), so FP16 costs the boxes no precision beyond the convolutions'. The
    split is the SSD module's own (``model.heads`` then ``model.decode``); a module without
    them runs wholly in FP16.
    """
    heads = getattr(model, "heads", None)
    decode = getattr(model, "decode", None)
    priors = getattr(model, "priors", None)
    if not half:
        def run(x):
            scores, boxes = model(x)[:2]
            return scores.float(), boxes.float()
        return run
    if heads is None or decode is None or priors is None:
        model.half()

        def run_half(x):
            scores, boxes = model(x)[:2]
            return scores.float(), boxes.float()
        return run_half
    priors = priors.detach().float().clone()     # taken before .half() rounds the buffer
    model.half()

    def run_mixed(x):
        conf, loc = heads(x)
        return decode(conf.float(), loc.float(), priors)
    return run_mixed


class CudaGraphs:
    """Replay ``fn`` from one CUDA graph per input shape (static input buffer, warm-up on a side
    stream, at most ``max_graphs`` kept). Outputs are the graph's static tensors: valid until
    the next call."""

    def __init__(self, fn, max_graphs=4, warmup=3):
        self.fn, self.max_graphs, self.warmup = fn, max_graphs, warmup
        self._graphs = {}

    def __call__(self, x):
        key = (tuple(x.shape), x.dtype, x.device)
        entry = self._graphs.pop(key, None) or self._capture(x)
        self._graphs[key] = entry                             # most recently used last
        static_in, graph, outputs = entry
        static_in.copy_(x)
        graph.replay()
        return outputs

    def _capture(self, x):
        import torch
        if len(self._graphs) >= self.max_graphs:
            self._graphs.pop(next(iter(self._graphs)))
        # Plain (not inference-mode) tensors, so later calls may copy into the static input
        # whether or not they run under torch.inference_mode().
        with torch.inference_mode(False), torch.no_grad():
            static_in = x.clone()
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                for _ in range(self.warmup):                  # cuDNN picks its kernels here
                    self.fn(static_in)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outputs = self.fn(static_in)
        return static_in, graph, outputs


class FramePath:
    """Frames → Detections on one torch device: :class:`TorchPreprocessor`, the network, batched
    torch NMS, one copy of the detections back.

    Args:
        model: the SSD ``nn.Module`` (eval mode, on ``device``; converted to FP16 with ``half``).
        spec: its :class:`~ssd_edge.spec.DetectorSpec`.
        device: ``torch.device``; ``half`` and ``cuda_graph`` need a CUDA one.
        half: FP16 weights and input (softmax and decoding stay FP32).
        cuda_graph: replay the network from a CUDA graph per input shape (falls back to eager,
            with a warning, if capture fails).
        compile: ``torch.compile`` the network (``mode="reduce-overhead"`` on CUDA, which brings
            its own CUDA graphs); the first call per shape compiles (tens of seconds; torch keeps
            the result in its on-disk cache for the next process).
        max_batch: frames per network call; larger batches run in chunks.
    Attributes:
        last_timings: ``{"preprocess", "inference", "postprocess"}`` ms of the last call (CUDA
            events on a GPU, so they are device time).
    """

    def __init__(self, model, spec, device, half=False, cuda_graph=False, compile=False,
                 max_batch=256):
        import torch
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        if (half or cuda_graph) and not cuda:
            raise SsdEdgeError("expected a CUDA device for %s, got %s; drop the option or use "
                               "device='cuda'" % ("fp16" if half else "cuda_graph", self.device))
        self.eager = network(model, half)
        self.net = self.eager
        if compile:
            self.net = _compiled(self.eager, cuda)
        elif cuda_graph:
            self.net = CudaGraphs(self.eager)
        self.pre = TorchPreprocessor(spec, self.device, torch.float16 if half else torch.float32)
        self.max_batch = int(max_batch)
        self.last_timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}

    def forward(self, x):
        """``(B, 3, H, W)`` input on the device → float32 ``(scores, boxes)``; outputs of a
        graph replay are valid until the next call."""
        import torch
        with torch.no_grad():
            if isinstance(self.net, CudaGraphs):
                try:
                    return self.net(x)
                except RuntimeError as e:
                    log.warning("CUDA graph capture failed (%s); running the network eagerly",
                                str(e).splitlines()[0] if str(e) else type(e).__name__)
                    self.net = self.eager
            return self.net(x)

    def detect(self, frames, options):
        """``frames``: ``(N, H, W, 3) uint8`` tensor (e.g. already on the GPU) or a list of BGR
        uint8 frames; ``options``: :class:`~ssd_edge.runtime.postprocess.DetectOptions`.
        Returns one :class:`Detections` per frame, boxes in that frame's pixels."""
        import torch
        clock = _Clock(self.device)
        with torch.no_grad():
            x, sizes = self.pre(frames)
            clock.mark("preprocess")
            out = []
            for s in range(0, len(sizes), self.max_batch):
                scores, boxes = self.forward(x[s:s + self.max_batch])
                clock.mark("inference")
                out.extend(postprocess_options(scores, boxes, sizes[s:s + self.max_batch],
                                               options))
                clock.mark("postprocess")
        self.last_timings = clock.totals()
        return out


def _compiled(fn, cuda):
    import torch
    compiled = torch.compile(fn, mode="reduce-overhead" if cuda else None, dynamic=False)
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

    def run(x):
        if cuda and mark is not None:
            mark()               # a new step: the previous call's outputs are no longer needed
        return compiled(x)
    return run


class _Clock:
    """Stage durations: CUDA events on a GPU (read once everything has finished), else
    ``time.perf_counter``."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.marks = [(None, self._now())]

    def _now(self):
        if self.cuda:
            import torch
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def mark(self, stage):
        self.marks.append((stage, self._now()))

    def totals(self):
        out = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        if self.cuda:
            self.marks[-1][1].synchronize()
        for (_, a), (stage, b) in zip(self.marks, self.marks[1:]):
            out[stage] += a.elapsed_time(b) if self.cuda else (b - a) * 1e3
        return out
