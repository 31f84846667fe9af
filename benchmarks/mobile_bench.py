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

``--faces`` (UltraFace, real data; ``--real DIR`` or ``$SSD_EDGE_REAL_DATA``, the folder holding
``models/ultraface`` and ``photos/``): the checkpoint defaults to ``version-RFB-320.pth``, INT8 is
calibrated on the 58 ``photos/jetson-inference`` photos and every (file, backend) is scored on the
other set, the real face photos (``photos/faces``), against the FP32 PyTorch model (torch
backend) at the model's own threshold (spec.nms, 0.6 for UltraFace) with the same rule (greedy
one-to-one, same class, IoU >= 0.5, mean over photos); there is no mAP (no face annotations).

Medians (p50) in milliseconds; the CPU model and instruction sets come with them, and the
1-minute load average while each figure was taken. Results go to
``benchmarks/results/mobile_<cpu>[_<checkpoint>].json``; the Markdown table is printed.

    python benchmarks/mobile_bench.py [--checkpoint M.pth] [--iterations 200] [--threads N]
    python benchmarks/mobile_bench.py --faces --real DIR --threads 1 --iterations 100
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


def export(ckpt, work, calib, labels=None):
    """Export every file into ``work`` (kept when all are there already: ``--work`` reuse)."""
    from ssd_edge.cli.export import main
    stem = os.path.join(work, os.path.splitext(os.path.basename(ckpt))[0])
    if all(os.path.exists(stem + f[0]) for f in FILES):
        return stem
    rc = main([ckpt, "--output-dir", work, "--fp16", "--int8", "--calib", calib, "--tflite",
               "--ncnn", "-q"] + (["--labels", labels] if labels else []))
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
            if rnd == 0 and test_dir:
                argv += ["--data", test_dir]
            if threads:
                argv += ["--threads", str(threads)]
            load = os.getloadavg()[0]
            if main(argv) != 0:
                raise SystemExit("ssd-bench failed on %s" % suffix)
            load = max(load, os.getloadavg()[0])
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
                    "rounds_inference_ms": [], "rounds_load_1min": []})
                row["rounds_load_1min"].append(round(load, 2))
                if r["status"] == "ok":
                    row["rounds_end_to_end_ms"].append(lat["end_to_end"]["p50"])
                    row["rounds_inference_ms"].append(lat["inference"]["p50"])
    for row in rows.values():
        for k in ("end_to_end", "inference"):
            v = row["rounds_%s_ms" % k]
            row["%s_ms" % k] = round(float(np.median(v)), 3) if v else None
    return list(rows.values()), env


def face_agreements(ckpt, labels, stem, rows, photos, threads):
    """Agreement of every (file, backend) that ran with the FP32 PyTorch model (torch backend)
    on the real photos in ``photos``, at the model's own threshold; keys ``file@backend``."""
    import cv2
    import numpy as np
    from ssd_edge import Detector
    from ssd_edge.export.calib import list_images
    from ssd_edge.export.parity import agreement
    names = list_images(photos)
    frames = [cv2.imread(p) for p in names]
    with Detector.load(ckpt, backend="torch", labels=labels, threads=threads) as det:
        ref, conf = [det(f) for f in frames], det.conf_threshold
    out = {}
    for r in rows:
        if r["status"] != "ok":
            continue
        path = os.path.join(os.path.dirname(stem), r["file"])
        with Detector.load(path, backend=r["backend"], threads=threads) as det:
            det.conf_threshold = conf
            got = [det(f) for f in frames]
        shares = [agreement(a, b) for a, b in zip(ref, got)]
        out["%s@%s" % (r["file"], r["backend"])] = {
            "agreement": round(float(np.mean(shares)), 4),
            "worst_photo": round(float(min(shares)), 4),
            "reference": os.path.basename(ckpt) + " (torch, fp32)", "threshold": conf,
            "images": len(frames), "detections_reference": int(sum(len(a) for a in ref)),
            "detections": int(sum(len(b) for b in got)),
            "load_1min": round(os.getloadavg()[0], 2)}
    return out


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
        load = os.getloadavg()[0]
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
            "speedup": round(p50[0] / p50[1], 2), "iterations": iterations,
            "load_1min": round(max(load, os.getloadavg()[0]), 2)}
    return out


def table(rows, agree):
    lines = ["| file | format | precision | backend (runs in) | end to end p50 ms | network p50 ms "
             "| load (1 min) | VOC07 mAP | agreement with FP32 |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append("| %s | %s | %s | %s | %s | | | | |" % (
                r["file"], r["format"], r["precision"], r["backend"], r["status"]))
            continue
        a = agree.get("%s@%s" % (r["file"], r["backend"])) or agree.get(r["file"])
        loads = r["rounds_load_1min"]
        lines.append("| %s | %s | %s | %s (%s) | %.2f | %.2f | %.1f-%.1f | %s | %s |" % (
            r["file"], r["format"], r["precision"], r["backend"], r["runs_in"],
            r["end_to_end_ms"], r["inference_ms"], min(loads), max(loads),
            "%.3f" % r["map_voc07"] if r["map_voc07"] is not None else "—",
            "%.1f %%" % (100 * a["agreement"]) if a else "—"))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="a .pth (default: the bundled shapes mb2-ssd-lite; "
                    "with --faces UltraFace's version-RFB-320.pth)")
    ap.add_argument("--calib", help="calibration images (default: 100 generated shapes scenes; "
                    "with --faces REAL/photos/jetson-inference)")
    ap.add_argument("--faces", action="store_true",
                    help="UltraFace on real data: agreement of every file on REAL/photos/faces")
    ap.add_argument("--real", default=os.environ.get("SSD_EDGE_REAL_DATA"),
                    help="with --faces: the folder holding models/ultraface and photos/ "
                         "(default $SSD_EDGE_REAL_DATA)")
    ap.add_argument("--iterations", type=int, default=200, help="timed calls per case per round")
    ap.add_argument("--rounds", type=int, default=3, help="passes over all cases, in turn")
    ap.add_argument("--threads", type=int, help="threads for every backend (default: theirs)")
    ap.add_argument("--work", help="keep exports here (default: a temporary folder)")
    ap.add_argument("--out", help="result JSON (default: benchmarks/results/"
                    "mobile_<cpu>[_<checkpoint>].json)")
    a = ap.parse_args()
    from live_bench import cpu_description
    from ssd_edge.data.synthetic import generate_voc
    from ssd_edge.export.calib import list_images
    from ssd_edge.runtime.assets import require_bundled_model
    labels = photos = None
    if a.faces:
        if not a.real or not os.path.isdir(os.path.join(a.real, "models", "ultraface")):
            raise SystemExit("--faces: pass --real DIR, the folder holding models/ultraface and "
                             "photos/ (or set SSD_EDGE_REAL_DATA)")
        models = os.path.join(a.real, "models", "ultraface")
        ckpt = a.checkpoint or os.path.join(models, "version-RFB-320.pth")
        labels = os.path.join(models, "labels.txt")
        a.calib = a.calib or os.path.join(a.real, "photos", "jetson-inference")
        photos = os.path.join(a.real, "photos", "faces")
    else:
        ckpt = a.checkpoint or require_bundled_model("pass --checkpoint", checkpoint=True)
    model, isa, slug = cpu_description()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or tmp
        calib = a.calib or os.path.join(work, "calib")
        if not a.calib and not os.path.isdir(calib):
            generate_voc(calib, 100, seed=101, image_size=(320, 240))
        test_dir = None
        if not a.faces:
            test_dir = os.path.join(work, "heldout")
            if not os.path.isdir(test_dir):
                generate_voc(test_dir, 60, seed=202, image_size=(640, 480), split="test")
        stem = export(ckpt, work, calib, labels)
        rows, env = bench(stem, test_dir, a.iterations, a.threads, work, a.rounds)
        if a.faces:
            agree = face_agreements(ckpt, labels, stem, rows, photos, a.threads)
        else:
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
    pair = pairs.get("%s.int8.tflite vs %s.tflite" % (base, base))
    if pair:        # calls alternating: the figure a busy machine's load changes least
        ratios["litert_int8_vs_fp32_end_to_end_interleaved"] = pair["speedup"]
    int8_agree = agree.get(base + ".int8.tflite@litert") or agree.get(base + ".int8.tflite")
    if int8_agree:
        ratios["litert_int8_agreement"] = int8_agree["agreement"]
    if a.faces:
        calibration = "%s (%d photos)" % (os.path.relpath(a.calib, a.real), len(list_images(a.calib)))
        heldout = "photos/faces (%d photos), against the FP32 PyTorch model" % len(
            list_images(photos))
    else:
        calibration = a.calib or "100 generated shapes scenes (seed 101)"
        heldout = "60 generated shapes scenes at 640x480 (seed 202)"
    doc = {"schema": 2, "benchmark": "mobile_cpu", "cpu": model, "isa": isa,
           "cores": os.cpu_count(), "threads": a.threads or "backend default",
           "checkpoint": os.path.basename(ckpt), "frame": "640x480, batch 1",
           "calibration": calibration, "heldout": heldout,
           "iterations": a.iterations, "rounds": a.rounds,
           "load_average_1min_at_end": round(os.getloadavg()[0], 2), "results": rows,
           "agreement": agree, "ratios": ratios, "interleaved": pairs,
           "versions": env.get("libraries")}
    name = slug
    if a.faces or a.checkpoint:
        name += "_" + os.path.splitext(os.path.basename(ckpt))[0].lower()
        name = name.replace("_version-", "_ultraface-")
    out = a.out or os.path.join(HERE, "results", "mobile_%s.json" % name)
    from ssd_edge.fileio import atomic_write_text
    atomic_write_text(out, json.dumps(doc, indent=1) + "\n")
    print("%s (%s), %s threads, %s" % (model, " ".join(isa), doc["threads"], base))
    print("\n".join(table(rows, agree)))
    print("ratios: %s" % json.dumps(ratios))
    for k, v in pairs.items():
        print("interleaved %s: %s, %.2fx (load %.2f)" % (
            k, ", ".join("%s %.3f ms" % kv for kv in v["end_to_end_p50_ms"].items()),
            v["speedup"], v["load_1min"]))
    print("wrote %s" % out)


if __name__ == "__main__":
    main()
