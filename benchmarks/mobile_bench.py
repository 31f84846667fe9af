#!/usr/bin/env python3
"""Phone / small-board formats on this CPU: LiteRT and ncnn next to ONNX Runtime and OpenVINO.

One run, one checkpoint (the bundled mb2-ssd-lite shapes model unless ``--checkpoint``):

1. ``ssd-export --fp16 --int8 --tflite --ncnn``: FP32 / FP16 / INT8 ONNX, FP32 / FP16 / INT8
   LiteRT, FP32 / FP16 ncnn, INT8 calibrated on 100 generated shapes scenes (the model's
   domain; ``--calib DIR`` for your own images) through the spec's pre-processing;
2. ``ssd-bench`` on every file and the backend that runs it (ONNX: ``ort`` and ``openvino``;
   ``.tflite``: ``litert``; ``.ncnn.param``: ``ncnn``), batch 1, end to end (pre-processing,
   network, NMS on a 640x480 frame), each backend's default threads unless ``--threads``, in
   ``--rounds`` passes over all cases (median of the passes' p50s), plus VOC07 mAP on a held-out
   set of generated scenes (other seeds than the calibration set);
3. agreement of each FP16 / INT8 file with the FP32 file of its own format on the held-out set
   at the Detector's default threshold (0.4): greedy one-to-one matching, same class,
   IoU >= 0.5 (ssd-export's parity measure);
4. the ratios the targets name: LiteRT INT8 against LiteRT FP32 (>= 1.5x), its agreement (>= 95 %);
   the INT8 LiteRT file is also timed against the FP32 LiteRT and both ONNX files through
   ``Detector`` with the calls alternating (``interleaved``), which keeps a busy machine's
   changing load out of the ratio.

Medians (p50) in milliseconds; the CPU model and instruction sets come with them. Results go to
``benchmarks/results/mobile_<cpu>.json``; the Markdown table is printed.

    python benchmarks/mobile_bench.py [--checkpoint M.pth] [--iterations 200] [--threads N]
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

FILES = (  # (suffix, format, precision, backends)
    (".onnx", "ONNX", "fp32", ("ort", "openvino")),
    (".fp16.onnx", "ONNX", "fp16", ("openvino",)),
    (".int8.onnx", "ONNX", "int8", ("ort", "openvino")),
    (".tflite", "LiteRT", "fp32", ("litert",)),
    (".fp16.tflite", "LiteRT", "fp16", ("litert",)),
    (".int8.tflite", "LiteRT", "int8", ("litert",)),
    (".ncnn.param", "ncnn", "fp32", ("ncnn",)),
    (".fp16.ncnn.param", "ncnn", "fp16", ("ncnn",)),
)


def export(ckpt, work, calib):
    """Export every file into ``work`` (kept when all are there already: ``--work`` reuse)."""
    from ssd_edge.cli.export import main
    stem = os.path.join(work, os.path.splitext(os.path.basename(ckpt))[0])
    if all(os.path.exists(stem + f[0]) for f in FILES):
        return stem
    rc = main([ckpt, "--output-dir", work, "--fp16", "--int8", "--calib", calib, "--tflite",
               "--ncnn", "-q"])
    if rc != 0:
        raise SystemExit("ssd-export failed (%d)" % rc)
    return os.path.join(work, os.path.splitext(os.path.basename(ckpt))[0])


def bench(stem, test_dir, iterations, threads, work, rounds):
    """ssd-bench on every (file, backend), ``rounds`` times in turn (so a change in the machine's
    load during the run hits every case alike); the p50 of a case is the median of its rounds'
    p50s; the mAP comes from the first round."""
    from ssd_edge.cli.bench import main
    import numpy as np
    rows, env = {}, {}
    for rnd in range(rounds):
        for suffix, fmt, prec, backends in FILES:
            out = os.path.join(work, "bench%s.json" % suffix.replace(".", "_"))
            argv = [stem + suffix, "--backend", ",".join(backends), "--iterations",
                    str(iterations), "--warmup", "10", "--no-progress", "--quiet", "--json", out]
            if rnd == 0:
                argv += ["--data", test_dir]
            if threads:
                argv += ["--threads", str(threads)]
            if main(argv) != 0:
                raise SystemExit("ssd-bench failed on %s" % suffix)
            with open(out) as f:
                doc = json.load(f)
            env = doc.get("environment", env)
            for r in doc["results"]:
                key = (os.path.basename(stem + suffix), r["backend"])
                lat = r.get("latency_ms") or {}
                row = rows.setdefault(key, {
                    "file": key[0], "format": fmt, "precision": prec, "backend": r["backend"],
                    "status": r["status"], "runs_in": r.get("precision"), "reason": r.get("reason"),
                    "map_voc07": (r.get("map") or {}).get("value"), "rounds_end_to_end_ms": [],
                    "rounds_inference_ms": []})
                if r["status"] == "ok":
                    row["rounds_end_to_end_ms"].append(lat["end_to_end"]["p50"])
                    row["rounds_inference_ms"].append(lat["inference"]["p50"])
    for row in rows.values():
        for k in ("end_to_end", "inference"):
            v = row["rounds_%s_ms" % k]
            row["%s_ms" % k] = round(float(np.median(v)), 3) if v else None
    return list(rows.values()), env


def agreements(stem, test_dir):
    """Agreement of each reduced file with its format's FP32 file on the held-out images."""
    import cv2
    import numpy as np
    from ssd_edge import Detector
    from ssd_edge.export.calib import list_images
    from ssd_edge.export.parity import agreement
    frames = [cv2.imread(p) for p in list_images(test_dir)]
    out = {}
    for ref_suffix, others in ((".onnx", (".fp16.onnx", ".int8.onnx")),
                               (".tflite", (".fp16.tflite", ".int8.tflite")),
                               (".ncnn.param", (".fp16.ncnn.param",))):
        with Detector.load(stem + ref_suffix) as det:
            ref = [det(f) for f in frames]
        for suffix in others:
            with Detector.load(stem + suffix) as det:
                got = [det(f) for f in frames]
            out[os.path.basename(stem + suffix)] = {
                "agreement": round(float(np.mean([agreement(r, g) for r, g in zip(ref, got)])), 4),
                "reference": os.path.basename(stem + ref_suffix), "images": len(frames),
                "detections_reference": int(sum(len(r) for r in ref))}
    return out


def interleaved(stem, pairs, iterations, threads):
    """Each pair of files through ``Detector`` (auto backend) on the same 640x480 frame, calls
    alternating, so both see the same machine load; returns end-to-end p50 ms per file."""
    import time
    import numpy as np
    from ssd_edge import Detector
    from ssd_edge.bench.runner import make_frames
    frames = make_frames(1)
    out = {}
    for a, b in pairs:
        dets = [Detector.load(stem + s, threads=threads) for s in (a, b)]
        try:
            times = ([], [])
            for _ in range(10):
                for d in dets:
                    d.detect_batch(frames)
            for _ in range(iterations):
                for d, t in zip(dets, times):
                    t0 = time.perf_counter()
                    d.detect_batch(frames)
                    t.append((time.perf_counter() - t0) * 1e3)
        finally:
            for d in dets:
                d.close()
        p50 = [round(float(np.median(t)), 3) for t in times]
        out["%s vs %s" % (os.path.basename(stem + b), os.path.basename(stem + a))] = {
            "end_to_end_p50_ms": {os.path.basename(stem + a): p50[0],
                                  os.path.basename(stem + b): p50[1]},
            "speedup": round(p50[0] / p50[1], 2), "iterations": iterations}
    return out


def table(rows, agree):
    lines = ["| file | format | precision | backend (runs in) | end to end p50 ms | network p50 ms "
             "| VOC07 mAP | agreement with FP32 |", "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append("| %s | %s | %s | %s | %s | | | |" % (r["file"], r["format"], r["precision"],
                                                           r["backend"], r["status"]))
            continue
        a = agree.get(r["file"])
        lines.append("| %s | %s | %s | %s (%s) | %.2f | %.2f | %s | %s |" % (
            r["file"], r["format"], r["precision"], r["backend"], r["runs_in"],
            r["end_to_end_ms"], r["inference_ms"],
            "%.3f" % r["map_voc07"] if r["map_voc07"] is not None else "—",
            "%.1f %%" % (100 * a["agreement"]) if a else "—"))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="a .pth (default: the bundled shapes mb2-ssd-lite)")
    ap.add_argument("--calib", help="calibration images (default: 100 generated shapes scenes)")
    ap.add_argument("--iterations", type=int, default=200, help="timed calls per case per round")
    ap.add_argument("--rounds", type=int, default=3, help="passes over all cases, in turn")
    ap.add_argument("--threads", type=int, help="threads for every backend (default: theirs)")
    ap.add_argument("--work", help="keep exports here (default: a temporary folder)")
    ap.add_argument("--out", help="result JSON (default: benchmarks/results/mobile_<cpu>.json)")
    a = ap.parse_args()
    from live_bench import cpu_description
    from ssd_edge.data.synthetic import generate_voc
    from ssd_edge.runtime.assets import require_bundled_model
    ckpt = a.checkpoint or require_bundled_model("pass --checkpoint", checkpoint=True)
    model, isa, slug = cpu_description()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or tmp
        calib = a.calib or os.path.join(work, "calib")
        if not a.calib and not os.path.isdir(calib):
            generate_voc(calib, 100, seed=101, image_size=(320, 240))
        test_dir = os.path.join(work, "heldout")
        if not os.path.isdir(test_dir):
            generate_voc(test_dir, 60, seed=202, image_size=(640, 480), split="test")
        stem = export(ckpt, work, calib)
        rows, env = bench(stem, test_dir, a.iterations, a.threads, work, a.rounds)
        agree = agreements(stem, test_dir)
        pairs = interleaved(stem, ((".tflite", ".int8.tflite"), (".onnx", ".int8.tflite"),
                                   (".int8.onnx", ".int8.tflite")), 3 * a.iterations, a.threads)
    by = {(r["file"], r["backend"]): r for r in rows if r["status"] == "ok"}
    base = os.path.basename(stem)
    fp32 = by.get((base + ".tflite", "litert"))
    int8 = by.get((base + ".int8.tflite", "litert"))
    ratios = {}
    if fp32 and int8:
        ratios["litert_int8_vs_fp32_end_to_end"] = round(fp32["end_to_end_ms"] / int8["end_to_end_ms"], 2)
        ratios["litert_int8_vs_fp32_network"] = round(fp32["inference_ms"] / int8["inference_ms"], 2)
    doc = {"schema": 1, "benchmark": "mobile_cpu", "cpu": model, "isa": isa,
           "cores": os.cpu_count(), "threads": a.threads or "backend default",
           "checkpoint": os.path.basename(ckpt), "frame": "640x480, batch 1",
           "calibration": a.calib or "100 generated shapes scenes (seed 101)",
           "heldout": "60 generated shapes scenes at 640x480 (seed 202)",
           "iterations": a.iterations, "rounds": a.rounds,
           "load_average_1min_at_end": round(os.getloadavg()[0], 2), "results": rows, "agreement": agree, "ratios": ratios,
           "interleaved": pairs,
           "versions": env.get("libraries")}
    out = a.out or os.path.join(HERE, "results", "mobile_%s.json" % slug)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print("%s (%s), %s threads" % (model, " ".join(isa), doc["threads"]))
    print("\n".join(table(rows, agree)))
    print("ratios: %s" % json.dumps(ratios))
    print("interleaved: %s" % json.dumps(pairs))
    print("wrote %s" % out)


if __name__ == "__main__":
    main()
