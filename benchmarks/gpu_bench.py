#!/usr/bin/env python3
"""The torch backend's GPU frame path against pytorch-ssd on the same GPU, in one run.

With one mb1-ssd checkpoint (random seeded weights, 21 VOC classes; or ``--checkpoint``):

1. ``latency``: batch-1 end to end on a 640x480 BGR uint8 frame in host memory — ``Detector``
   (torch backend on CUDA: upload, resize and normalise on the GPU, FP16 network replayed from
   a CUDA graph, or ``--compile``, NMS on the GPU, detections copied back) against pytorch-ssd's
   ``Predictor`` (``--pytorch-ssd DIR`` / $SSD_EDGE_PYTORCH_SSD: its own code; otherwise the
   stand-in of predictor_ref.py: PredictionTransform's steps, the zoo net in eager FP32 on the GPU,
   the loop transcription of its NMS on the host) at thresholds 0.4 and 0.01 (targets >= 4x and
   >= 100x);
2. ``throughput``: ``detect_batch`` on a batch of 640x480 uint8 frames already in GPU memory
   (as a hardware decoder leaves them), FP16, NMS included, against the bare network forward
   in eager FP16 on ready-made (B, 3, 300, 300) inputs (target: at least as many images/s).

Medians of repeated runs after warm-up (CUDA graph capture / compilation excluded and timed
separately). cuDNN autotuning is on for both sides. Results go to
``benchmarks/results/gpu_<gpu>.json``. Without CUDA it exits 2; ``--device cpu --smoke`` runs
the same code on the CPU at tiny sizes (mb1-ssd at 96 px, batch 4) to prove the code path
(its figures mean nothing).

    python benchmarks/gpu_bench.py [--pytorch-ssd DIR] [--batch 256] [--compile]
    python benchmarks/gpu_bench.py --device cpu --smoke
"""
import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from live_bench import make_checkpoint  # noqa: E402
from predictor_ref import open_predictor  # noqa: E402


class _PathBackend:
    """Smoke mode on the CPU: the Detector over the frame path the torch backend uses on CUDA
    (the backend itself hands CPU work to the Detector's numpy path)."""

    inputs, outputs, precision, batch_size = ["input_0"], ["scores", "boxes"], "fp32", None

    def __init__(self, path):
        self.path = path

    @property
    def last_timings(self):
        return self.path.last_timings

    def detect_batch(self, frames, options):
        return self.path.detect(frames, options)

    def close(self):
        self.path = None


def open_detector(pth, device, fp16, compile_net):
    from ssd_edge.runtime import Detector
    if device.type == "cuda":
        return Detector.load(pth, backend="torch", device=str(device), fp16=fp16,
                             cuda_graph=not compile_net, torch_compile=compile_net,
                             max_detections=-1)
    from ssd_edge.models import load_checkpoint
    from ssd_edge.runtime.artifact import open_artifact
    from ssd_edge.runtime.torch_gpu import FramePath
    art = open_artifact(pth)
    model = load_checkpoint(pth)[0].eval()
    return Detector(art, _PathBackend(FramePath(model, art.spec, device)), "torch",
                    max_detections=-1)


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeat, warmup):
    """Median seconds of ``fn()`` (synchronised), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync(device)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def latency(det, predict, frame, device, threshold, repeat):
    import cv2
    det.conf_threshold = threshold
    ours = det(frame)
    rgb = lambda: cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # noqa: E731
    _, labels, _ = predict(rgb(), threshold)
    t_det = timed(lambda: det(frame), device, repeat, 3)
    t_pred = timed(lambda: predict(rgb(), threshold), device, max(3, repeat // 10), 1)
    return {"threshold": threshold, "detections": len(ours), "predictor_detections": len(labels),
            "detector_ms": round(t_det * 1e3, 3), "detector_stages_ms":
            {k: round(v, 3) for k, v in det.last_timings.items()},
            "predictor_ms": round(t_pred * 1e3, 3), "speedup": round(t_pred / t_det, 1)}


def throughput(det, pth, frames_dev, device, fp16, repeat):
    """images/s of ``detect_batch`` on frames already on the device, and of the bare eager
    forward (FP16 on CUDA) on a ready (B, 3, H, W) input of the same batch."""
    import torch
    from ssd_edge.models import load_checkpoint
    b = frames_dev.shape[0]
    t0 = time.perf_counter()
    det.detect_batch(frames_dev)                        # graph capture / compilation
    sync(device)
    first = time.perf_counter() - t0
    t_ours = timed(lambda: det.detect_batch(frames_dev), device, repeat, 2)
    model = load_checkpoint(pth)[0].eval().to(device)
    h, w = det.spec.input_size
    x = torch.randn(b, 3, h, w, device=device)
    if fp16:
        model, x = model.half(), x.half()
    with torch.no_grad():
        t_bare = timed(lambda: model(x), device, repeat, 3)
    return {"batch": b, "first_call_s": round(first, 2),
            "detect_batch_images_per_s": round(b / t_ours, 1),
            "detect_batch_stages_ms": {k: round(v, 3) for k, v in det.last_timings.items()},
            "eager_forward_images_per_s": round(b / t_bare, 1),
            "ratio": round(t_bare / t_ours, 3), "target_ratio": 1.0}


def device_description(device):
    import torch
    if device.type != "cuda":
        return platform.processor() or platform.machine(), "cpu-smoke"
    name = torch.cuda.get_device_name(device)
    return name, re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def frames_640x480(n, seed=0):
    """``n`` synthetic 640x480 BGR frames (16 distinct ones, tiled)."""
    from ssd_edge.export.calib import generated_frames
    base = generated_frames(min(n, 16), size=(480, 640), seed=seed)
    return [base[i % len(base)] for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", help="a .pth instead of random seeded mb1-ssd weights")
    ap.add_argument("--pytorch-ssd", default=os.environ.get("SSD_EDGE_PYTORCH_SSD"),
                    help="pytorch-ssd checkout (default: $SSD_EDGE_PYTORCH_SSD)")
    ap.add_argument("--device", default="cuda", help="cuda[:N]; cpu only with --smoke")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--compile", action="store_true", help="torch.compile instead of CUDA graphs")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, any device: code path only")
    ap.add_argument("--json", help="result file (default benchmarks/results/gpu_<gpu>.json)")
    a = ap.parse_args()
    import torch
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: error: expected a CUDA GPU visible to torch, got none (torch %s); run "
              "it on a GPU machine, or use --device cpu --smoke to check the code path only"
              % torch.__version__, file=sys.stderr)
        return 2
    if device.type != "cuda" and not a.smoke:
        print("gpu_bench: error: expected --device cuda[:N], got %s; add --smoke to run the code "
              "path on it at tiny sizes" % device, file=sys.stderr)
        return 2
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    batch, repeat = (4, 2) if a.smoke else (a.batch, a.repeat)
    name, slug = device_description(device)
    res = {"schema": 1, "benchmark": "gpu_frame_path", "device": name, "smoke": a.smoke,
           "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
           "tf32_conv": bool(torch.backends.cudnn.allow_tf32), "network": "compile" if a.compile
           else ("cuda_graph" if cuda else "eager")}
    with tempfile.TemporaryDirectory() as d:
        pth = make_checkpoint(d, a.checkpoint, "mb1-ssd", resolution=96 if a.smoke else 300)
        det = open_detector(pth, device, cuda, a.compile)
        res.update(net=det.spec.arch, precision=det.precision, input_size=list(det.spec.input_size),
                   weights=a.checkpoint or "random (torch.manual_seed(0))")
        predict, what = open_predictor(a.pytorch_ssd, det.spec, pth, 200, str(device))
        res["predictor"] = what
        frames = frames_640x480(max(batch, 1))
        res["latency"] = [latency(det, predict, frames[0], device, t, repeat)
                          for t in (0.4, 0.01)]
        res["latency_targets"] = {"0.4": 4.0, "0.01": 100.0}
        det.conf_threshold = 0.4
        on_device = torch.from_numpy(np.stack(frames[:batch])).to(device)
        res["throughput"] = throughput(det, pth, on_device, device, cuda, repeat)
        det.close()
    print("%s%s, torch %s, %s network, %s" % (name, " (SMOKE: code path only, figures "
                                                    "meaningless)" if a.smoke else "",
                                              torch.__version__, res["network"], res["precision"]))
    print("  reference: %s" % what)
    for c in res["latency"]:
        print("  batch 1, threshold %-5s Detector %8.3f ms  Predictor %9.3f ms  %7.1fx  "
              "detections %d/%d" % (c["threshold"], c["detector_ms"], c["predictor_ms"],
                                    c["speedup"], c["detections"], c["predictor_detections"]))
    t = res["throughput"]
    print("  batch %d on device: detect_batch %.0f img/s vs eager forward %.0f img/s (%.2fx)"
          % (t["batch"], t["detect_batch_images_per_s"], t["eager_forward_images_per_s"],
             t["ratio"]))
    out = a.json or (None if a.smoke else os.path.join(HERE, "results", "gpu_%s.json" % slug))
    if out:
        from ssd_edge.fileio import atomic_write_text
        atomic_write_text(out, json.dumps(res, indent=2) + "\n")
        print("wrote %s" % out)
    lat = res["latency"]
    ok = lat[0]["speedup"] >= 4 and lat[1]["speedup"] >= 100 and t["ratio"] >= 1.0
    return 0 if ok or a.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
