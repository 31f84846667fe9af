"""Helpers for the stream tests: a tiny real ONNX detector, synthetic media, test doubles.

The model follows the docs/architecture.md I/O contract: ``input_0 (B, 3, 48, 48)`` normalised RGB →
``scores (B, P, C)`` softmax and ``boxes (B, P, 4)`` decoded corner form against the spec's own
priors and variances; exported with the TorchScript exporter at opset 13 and the spec written
into ``metadata_props["ssd_edge.spec"]`` with the onnx package, as ssd-export does.
"""
import os
import socketserver
import subprocess
import sys
import threading
import time

import numpy as np

from ssd_edge import Detections
from ssd_edge.spec import DetectorSpec, PriorLevel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LABELS = ("BACKGROUND", "person", "car")


def tiny_spec():
    """48×48 input, one 3×3 prior level with 4 boxes per cell: 36 priors, 3 classes."""
    return DetectorSpec(arch="tiny-stream-test", labels=LABELS, input_size=(48, 48),
                        prior_levels=(PriorLevel(3, 16, 16.0, 30.0, (2.0,)),))


def build_module(spec, seed=0):
    import torch
    from torch import nn

    class TinySSD(nn.Module):
        def __init__(self):
            super().__init__()
            a, c = spec.prior_levels[0].boxes_per_location, spec.num_classes
            self.c = c
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, stride=4, padding=1), nn.ReLU())
            self.cls = nn.Conv2d(8, a * c, 1)
            self.reg = nn.Conv2d(8, a * 4, 1)
            self.register_buffer("priors", torch.from_numpy(spec.priors()))

        def forward(self, x):
            f = self.body(x)                                   # (B, 8, 3, 3)
            b = x.shape[0]
            conf = self.cls(f).permute(0, 2, 3, 1).reshape(b, -1, self.c)
            loc = self.reg(f).permute(0, 2, 3, 1).reshape(b, -1, 4)
            p = self.priors
            cxcy = loc[..., :2] * spec.center_variance * p[:, 2:] + p[:, :2]
            wh = torch.exp(loc[..., 2:] * spec.size_variance) * p[:, 2:]
            return torch.softmax(conf, dim=2), torch.cat([cxcy - wh / 2, cxcy + wh / 2], 2)

    torch.manual_seed(seed)
    m = TinySSD().eval()
    with torch.no_grad():
        # Non-background classes favoured, so a plain frame already yields detections.
        m.cls.weight.mul_(4.0)
        m.cls.bias.view(-1, spec.num_classes)[:, 1:] += 2.0
    return m


def export_tiny_onnx(path):
    """Write the tiny model to ``path`` (with its spec in the metadata); return the spec."""
    import warnings

    import onnx
    import torch
    spec = tiny_spec()
    module = build_module(spec)
    dummy = torch.zeros(1, 3, spec.input_size[0], spec.input_size[1])
    axes = {n: {0: "batch"} for n in ("input_0", "scores", "boxes")}
    with warnings.catch_warnings():     # the TorchScript exporter is deprecated; it is what
        warnings.simplefilter("ignore")  # pytorch-ssd used and what docs/architecture.md prescribes
        torch.onnx.export(module, dummy, str(path), dynamo=False, opset_version=13,
                          input_names=["input_0"], output_names=["scores", "boxes"],
                          dynamic_axes=axes)
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "ssd_edge.spec", spec.to_json()
    onnx.save(model, str(path))
    return spec


def synthetic_frame(i, size=(96, 72)):
    """Frame ``i`` of a synthetic clip: (H, W, 3) uint8 BGR, a bright square moving right."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (30 + (i * 7) % 60, 60, 90)
    x = (i * 5) % max(1, w - 24)
    img[h // 3:h // 3 + 24, x:x + 24] = (40, 220, 240)
    return img


def write_video(path, frames, size=(96, 72), fps=10.0, fourcc="mp4v"):
    """Write ``frames`` synthetic frames to ``path`` with cv2.VideoWriter; return ``path``."""
    import cv2
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert w.isOpened(), "OpenCV cannot write %s" % path
    for i in range(frames):
        w.write(synthetic_frame(i, size))
    w.release()
    return path


def count_frames(path):
    """Frames OpenCV decodes from a video file (0 when it does not open)."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.isOpened():
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


class FakeDetector:
    """Test double: ``det(frame)`` → one box over the frame's brightest column band, after ``delay`` s."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.path, self.backend_name, self.precision = "fake", "fake", "fp32"
        self.last_timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        self.calls = 0

    def __call__(self, frame):
        t0 = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        self.calls += 1
        col = int(np.argmax(frame.sum(axis=(0, 2))))
        h = frame.shape[0]
        self.last_timings = {"preprocess": 0.0, "inference": (time.perf_counter() - t0) * 1e3,
                             "postprocess": 0.0}
        return Detections(np.array([[max(col - 5, 0), 0, col + 5, h - 1]], np.float32),
                          np.array([0.9], np.float32), np.array([1]), ["person"])

    def close(self):
        pass


class FastCamera:
    """Test double for a camera (none here): ``grab()`` every ``period`` s, frame number in pixel 0."""

    def __init__(self, period=0.002, fail_after=None):
        self.period, self.fail_after, self.n = period, fail_after, 0
        self.closed = False

    def grab(self):
        time.sleep(self.period)
        if self.fail_after is not None and self.n >= self.fail_after:
            return False
        self.n += 1
        return True

    def retrieve(self):
        img = synthetic_frame(self.n)
        img[0, 0] = (self.n % 256, self.n // 256 % 256, 0)
        return img

    def close(self):
        self.closed = True


def run_cli(module, *args, timeout=60, **kw):
    """Run ``python -m ssd_edge.cli.<module> args`` and return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "ssd_edge.cli." + module] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)


class Peer:
    """A raw TCP server on 127.0.0.1 answering connection number n with ``script(sock, n)``."""

    def __init__(self, script):
        peer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.recv(4096)
                peer.connections += 1
                try:
                    script(self.request, peer.connections)
                except OSError:
                    pass

        self.connections = 0
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/video" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
