#!/usr/bin/env python3
"""Throughput of one ``triton://`` Detector shared by 16 client threads against one thread.

The bundled model is exported with ``ssd-export --triton DIR --triton-backend python`` and
served by a real tritonserver (nvidia-pytriton's, python backend, on 127.0.0.1, its environment
built as the tests build it); clients send 640x480 frames of the bundled demo clip. Measured,
interleaved over ``--repeats`` rounds (medians quoted):

* ``network``: the Detector pre- and post-processes locally, one request per frame; the server's
  dynamic batcher merges concurrent requests into batches;
* ``pipeline``: frames go to the ``_pipeline`` ensemble (uint8 in, detections out);
* the local ONNX Runtime Detector, one thread, for scale.

Frames per second count every stage (pre-processing, transfer, network, NMS). Also recorded:
the batch sizes the server ran during the 16-thread rounds, and the CPU instruction set.

    python benchmarks/triton_bench.py [--frames 64] [--repeats 5] [--json FILE]

Writes ``benchmarks/results/triton_<cpu>.json``.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "serving"))
sys.path.insert(0, HERE)

THREADS = 16


def demo_frames(n):
    import cv2
    cap = cv2.VideoCapture(os.path.join(ROOT, "ssd_edge", "assets", "demo.mp4"))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        frames.append(frame)
    return frames


def run_threads(det, frames, threads):
    """Seconds for ``threads`` threads to run ``det`` once on every frame (split round-robin)."""
    errors = []

    def work(k):
        try:
            for i in range(k, len(frames), threads):
                det(frames[i])
        except Exception as e:      # re-raised below in the main thread
            errors.append(e)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def batch_counts(port, model):
    import tritonclient.grpc as grpcclient
    client = grpcclient.InferenceServerClient("127.0.0.1:%d" % port)
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    return {int(b["batch_size"]): int(b["compute_infer"]["count"])
            for b in stats.get("batch_stats", [])}


def ort_ms_per_frame(onnx_path, batches=(1, 8), repeats=10):
    """Median ONNX Runtime ms per frame at each batch size: what batching can gain at all."""
    import numpy as np
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    out = {}
    for b in batches:
        x = np.random.RandomState(0).rand(b, 3, 300, 300).astype(np.float32)
        sess.run(None, {"input_0": x})
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            sess.run(None, {"input_0": x})
            ts.append(time.perf_counter() - t0)
        out[str(b)] = round(statistics.median(ts) / b * 1e3, 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="result file (default benchmarks/results/triton_<cpu>.json)")
    a = ap.parse_args()
    import tritonserver
    from live_bench import cpu_description
    from ssd_edge import Detector
    from ssd_edge.cli.export import main as export
    model_name, isa, slug = cpu_description()
    frames = demo_frames(a.frames)
    work = tempfile.mkdtemp(prefix="triton-bench-")
    bundled = os.path.join(ROOT, "ssd_edge", "assets", "shapes-mb2-ssd-lite.pth")
    repo = os.path.join(work, "repo")
    export([bundled, "--output-dir", work, "--triton", repo, "--triton-backend", "python",
            "--triton-name", "shapes", "-q", "--no-check"])
    onnx_path = os.path.join(work, "shapes-mb2-ssd-lite.onnx")
    env = tritonserver.ensure_env()
    fps = {}
    with tritonserver.TritonServer(repo, env, os.path.join(work, "server.log")) as server:
        dets = {"network": Detector.load("triton://127.0.0.1:%d/shapes" % server.grpc_port),
                "pipeline": Detector.load("triton://127.0.0.1:%d/shapes_pipeline"
                                          % server.grpc_port),
                "local_ort": Detector.load(onnx_path, backend="ort")}
        cases = [("network", 1), ("network", THREADS), ("pipeline", 1), ("pipeline", THREADS),
                 ("local_ort", 1)]
        for name, n in cases:                       # warm-up: sessions, connections, caches
            run_threads(dets[name], frames[:THREADS], n)
        before = batch_counts(server.grpc_port, "shapes")
        times = {c: [] for c in cases}
        for _ in range(a.repeats):
            for name, n in cases:                  # interleaved: drift hits every case alike
                times[(name, n)].append(run_threads(dets[name], frames, n))
        after = batch_counts(server.grpc_port, "shapes")
        for d in dets.values():
            d.close()
    for (name, n), ts in times.items():
        med = statistics.median(ts)
        fps["%s_%dthread%s" % (name, n, "s" if n > 1 else "")] = {
            "median_s": round(med, 4), "fps": round(len(frames) / med, 1),
            "runs_s": [round(t, 4) for t in ts]}
    ratio = {k: round(fps["%s_%dthreads" % (k, THREADS)]["fps"] / fps["%s_1thread" % k]["fps"], 2)
             for k in ("network", "pipeline")}
    batches = {str(b): after.get(b, 0) - before.get(b, 0) for b in sorted(after)
               if after.get(b, 0) - before.get(b, 0)}
    per_frame = ort_ms_per_frame(onnx_path)
    res = {"schema": 1, "benchmark": "triton_throughput", "cpu": model_name, "isa": isa,
           "cores": os.cpu_count(), "server": "tritonserver 2.51 (nvidia-pytriton 0.7.0), "
           "python backend, ONNX Runtime on CPU", "protocol": "grpc",
           "model": "bundled shapes-mb2-ssd-lite (300x300)", "frame_size": [640, 480],
           "frames_per_round": len(frames), "repeats": a.repeats, "threads": THREADS,
           "throughput": fps, "speedup_16_vs_1": ratio,
           "network_batches_during_runs": batches,
           "ort_ms_per_frame_by_batch": per_frame, "load_average_1min": round(os.getloadavg()[0], 1)}
    path = a.json or os.path.join(HERE, "results", "triton_%s.json" % slug)
    from ssd_edge.fileio import atomic_write_text
    atomic_write_text(path, json.dumps(res, indent=2) + "\n")
    print(json.dumps({"speedup_16_vs_1": ratio, "batches": batches, "ort_ms": per_frame,
                      "fps": {k: v["fps"] for k, v in fps.items()}}, indent=1))
    print("written: %s" % path)


if __name__ == "__main__":
    main()
