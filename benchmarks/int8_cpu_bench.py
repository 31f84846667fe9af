#!/usr/bin/env python3
"""FP32 vs INT8 ONNX of one net on this CPU through ONNX Runtime and OpenVINO, measured in one run.

Exports the net (random weights, 21 classes, 300×300; INT8 calibrated on generated frames, which
is fine for speed and says nothing about accuracy) with ssd-export's own code, then times the
bare network forward (batch 1, warm-up excluded, median of N) per backend and precision, and
prints the ratios with the CPU's instruction set (INT8 gains depend on VNNI / AMX).

    python benchmarks/int8_cpu_bench.py [--net mb1-ssd] [--iterations 100] [--threads 2] [--json out]
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def cpu_description():
    """CPU model name and the INT8-relevant instruction sets (ssd-bench's CPU reader)."""
    from ssd_edge.bench.environment import cpu_info
    cpu = cpu_info()
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in cpu["isa"]]
    return cpu["model"], isa


def export(net, folder, calib_n=32):
    import cv2
    import torch
    from ssd_edge.export.calib import generated_frames
    from ssd_edge.export.options import ExportOptions
    from ssd_edge.export.pipeline import Source, run_export
    from ssd_edge.models import build_model
    from ssd_edge.models.specs import default_spec
    torch.manual_seed(0)
    spec = default_spec(net, ["BACKGROUND"] + ["c%d" % i for i in range(20)])
    model = build_model(spec).eval()
    calib = os.path.join(folder, "calib")
    os.makedirs(calib)
    for i, f in enumerate(generated_frames(calib_n, seed=1)):
        cv2.imwrite(os.path.join(calib, "%03d.jpg" % i), f)
    stem = os.path.join(folder, net)
    run_export(Source(spec=spec, stem=stem, model=model),
               ExportOptions(int8=True, calib_dir=calib, check=False), echo=lambda *_: None)
    return stem + ".onnx", stem + ".int8.onnx"


def ort_runner(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x})


def openvino_runner(path, threads, fp32):
    import openvino as ov
    core = ov.Core()
    cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    if fp32:
        cfg["INFERENCE_PRECISION_HINT"] = "f32"
    c = core.compile_model(path, "CPU", cfg)
    req = c.create_infer_request()
    return lambda x: req.infer({0: x})


def median_ms(fn, x, iterations, warmup=10):
    for _ in range(warmup):
        fn(x)
    ts = []
    for _ in range(iterations):
        t = time.perf_counter()
        fn(x)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="mb1-ssd")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    model, isa = cpu_description()
    x = np.random.default_rng(0).normal(size=(1, 3, 300, 300)).astype(np.float32)
    res = {"net": a.net, "cpu": model, "isa": isa, "threads": a.threads, "ms": {}}
    with tempfile.TemporaryDirectory() as d:
        fp32, int8 = export(a.net, d)
        runners = {}
        runners["ort/fp32"] = ort_runner(fp32, a.threads)
        runners["ort/int8"] = ort_runner(int8, a.threads)
        try:
            runners["openvino/fp32"] = openvino_runner(fp32, a.threads, True)
            runners["openvino/int8"] = openvino_runner(int8, a.threads, False)
        except ImportError:
            pass
        for name, fn in runners.items():
            res["ms"][name] = round(median_ms(fn, x, a.iterations), 2)
    ms = res["ms"]
    best = lambda prec: min((v, k) for k, v in ms.items() if k.endswith(prec))  # noqa: E731
    (b32, k32), (b8, k8) = best("fp32"), best("int8")
    res["best_fp32"], res["best_int8"], res["int8_speedup"] = k32, k8, round(b32 / b8, 2)
    print("%s on %s (%s), %d threads" % (a.net, model, ",".join(isa), a.threads))
    for k, v in ms.items():
        print("  %-14s %7.2f ms" % (k, v))
    print("  best INT8 (%s) vs best FP32 (%s): %.2fx" % (k8, k32, b32 / b8))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
