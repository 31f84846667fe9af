#!/usr/bin/env python3
"""ssd-live and the Detector on this CPU against the bare ONNX Runtime session and pytorch-ssd.

Measured in one run, with one checkpoint (random seeded mb1-ssd weights, 21 VOC classes, unless
``--checkpoint model.pth``) exported by ssd-export's own code to FP32, FP16 and INT8 ONNX
(INT8 calibrated on 100 generated shapes images, never on the test clip), on a generated
640x480 video:

1. ``bare``: frames per second of the bare ONNX Runtime session (``session.run`` on inputs
   preprocessed beforehand, ONNX Runtime's default thread count, as ssd-live uses) on the FP32
   ONNX;
2. ``live``: frames per second of the real ``ssd-live --source video.mp4 --output out.jsonl
   --headless --backend ort`` in a subprocess (its own summary line: decode, pre/post-processing,
   the .jsonl writer, model loading excluded) → ``live / bare`` (target >= 0.8);
3. ``latency``: ``Detector`` (FP32, ONNX Runtime) end to end on one decoded 640x480 frame
   (preprocess + inference + post-processing) against ``session.run`` alone on the same session,
   interleaved → the difference (target <= 3 ms);
4. ``predictor``: the same Detector against pytorch-ssd's Predictor with the same weights on the
   same frame at threshold 0.4 (target >= 3x) and 0.01. With ``--pytorch-ssd DIR`` (or
   $SSD_EDGE_PYTORCH_SSD) pointing at a pytorch-ssd checkout, its own ``Predictor`` runs its own
   net with our weights loaded; otherwise a stand-in does (predictor_ref.py), and the output says
   so. The BGR->RGB conversion pytorch-ssd's callers do is counted on its side, as the Detector
   does it inside. Detections are compared (same classes, boxes within 0.05 px); where they
   differ, the classes whose candidate scores hold exact ties are listed (the Predictor's
   ``torch.sort`` leaves their order unspecified; flat image regions under random weights give
   hundreds of equal scores);
5. ``precisions``: the FP16 and INT8 ONNX of the same checkpoint through ``backend="auto"`` (what
   it picks on this CPU, and in which precision it runs), each against the Predictor at both
   thresholds, and each one's detections against the FP32 Detector's over the clip's frames at
   0.4 (greedy one-to-one matching, same class, IoU >= 0.5: ssd-export's parity measure).

Figures are medians; the CPU model and instruction sets come with them. Results go to
``benchmarks/results/live_<cpu>[_<arch>].json``.

    python benchmarks/live_bench.py [--checkpoint M.pth] [--pytorch-ssd DIR] [--frames 300]
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from predictor_ref import (agreement_over, forward_only, open_predictor,  # noqa: E402
                           versus_predictor)

_ISA = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
        "amx_int8", "asimd", "asimddp")


def cpu_description():
    """``(model name, [instruction sets], file-name slug)`` (ssd-bench's CPU reader)."""
    from ssd_edge.bench.environment import cpu_info
    cpu = cpu_info()
    model = cpu["model"]
    flags = set(cpu["isa"])
    isa = [f for f in _ISA if f in flags]
    words = re.sub(r"\((r|tm)\)|processor|cpu|@.*|\d+-core", " ", model.lower()).split()
    tag = next((t for f, t in (("amx_int8", "amx"), ("avx512_vnni", "vnni"), ("avx_vnni", "vnni"),
                               ("avx512f", "avx512"), ("avx2", "avx2"), ("asimddp", "dotprod"))
                if f in flags), platform.machine())
    slug = "-".join(words[:3] + [tag])
    return model, isa, re.sub(r"[^a-z0-9_.-]+", "-", slug)


def make_checkpoint(folder, checkpoint=None, net="mb1-ssd", seed=0, resolution=300):
    """Return the checkpoint path: ``checkpoint`` itself, or a new one in ``folder`` with
    random weights (``torch.manual_seed(seed)``, 21 VOC classes) written by save_checkpoint."""
    if checkpoint is not None:
        return checkpoint
    import torch
    from ssd_edge.data.voc import VOC_CLASSES
    from ssd_edge.models import build_model, build_spec, save_checkpoint
    torch.manual_seed(seed)
    spec = build_spec(net, VOC_CLASSES, resolution=resolution)
    checkpoint = os.path.join(folder, net + ".pth")
    save_checkpoint(build_model(spec).eval(), spec, checkpoint)
    return checkpoint


def make_model(folder, checkpoint=None, net="mb1-ssd", seed=0):
    """Return ``(pth, {precision: onnx path}, spec)``: the checkpoint (written with random
    seeded weights unless given) exported by ssd-export's pipeline, with its parity checks, to
    FP32, FP16 and INT8 (calibrated on 100 generated shapes images at 640x480, seed 7)."""
    from ssd_edge.data.synthetic import generate_voc
    from ssd_edge.export.options import ExportOptions
    from ssd_edge.export.pipeline import Source, run_export
    from ssd_edge.models import load_checkpoint
    checkpoint = make_checkpoint(folder, checkpoint, net, seed)
    model, spec = load_checkpoint(checkpoint)
    calib = generate_voc(os.path.join(folder, "calib"), 100, seed=7, image_size=(640, 480))
    stem = os.path.join(folder, "model")
    options = ExportOptions(fp16=True, int8=True,
                            calib_dir=os.path.join(calib["root"], "JPEGImages"), calib_count=100)
    run_export(Source(spec=spec, stem=stem, model=model), options, echo=lambda *_: None)
    paths = {"fp32": stem + ".onnx", "fp16": stem + ".fp16.onnx", "int8": stem + ".int8.onnx"}
    return checkpoint, paths, spec


def read_frames(path):
    import cv2
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def ort_session(path, threads=None):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def bare_fps(onnx_path, spec, frames, passes, threads):
    """Frames per second of ``session.run`` alone over ``frames`` (preprocessed beforehand)."""
    from ssd_edge.runtime.preprocess import Preprocessor
    sess = ort_session(onnx_path, threads)
    pre = Preprocessor(spec)
    inputs = [pre([f]) for f in frames]
    for x in inputs[:10]:
        sess.run(None, {"input_0": x})
    fps = []
    for _ in range(passes):
        t = time.perf_counter()
        for x in inputs:
            sess.run(None, {"input_0": x})
        fps.append(len(inputs) / (time.perf_counter() - t))
    return fps


_SUMMARY = re.compile(r"frames: (\d+) in ([\d.]+) s \(([\d.]+) FPS\)")


def live_fps(onnx_path, video, folder, runs, n_frames):
    """Run the ssd-live CLI ``runs`` times; its own summary gives frames, seconds and FPS."""
    out = []
    for i in range(runs):
        jsonl = os.path.join(folder, "live%d.jsonl" % i)
        cmd = [sys.executable, "-m", "ssd_edge.cli.live", "--model", onnx_path, "--source", video,
               "--output", jsonl, "--headless", "--backend", "ort"]
        env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT))
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t
        m = _SUMMARY.search(p.stderr)
        if p.returncode != 0 or m is None:
            raise RuntimeError("ssd-live failed (exit %d): %s" % (p.returncode, p.stderr[-2000:]))
        with open(jsonl) as f:
            lines = sum(1 for _ in f)
        if int(m.group(1)) != n_frames or lines != n_frames:
            raise RuntimeError("expected %d frames in and out, got %s processed and %d .jsonl "
                               "lines" % (n_frames, m.group(1), lines))
        stages = dict((k, float(v)) for k, v in re.findall(r"^\s+(\w+)\s+([\d.]+) ms$",
                                                           p.stderr, re.M))
        out.append({"frames": int(m.group(1)), "seconds": float(m.group(2)),
                    "fps": float(m.group(3)), "process_wall_s": round(wall, 2),
                    "mean_stage_ms": stages})
    return out


def latency(det, frame, repeat):
    """Medians (ms) of ``det(frame)`` and of ``session.run`` alone, interleaved, plus the
    Detector's own per-stage medians."""
    from ssd_edge.runtime.preprocess import Preprocessor
    sess = det.backend.session
    x = Preprocessor(det.spec)([frame])
    e2e, inf, stages = [], [], {"preprocess": [], "inference": [], "postprocess": []}
    for _ in range(10):
        det(frame)
        sess.run(None, {"input_0": x})
    for _ in range(repeat):
        t = time.perf_counter()
        det(frame)
        e2e.append(time.perf_counter() - t)
        for k in stages:
            stages[k].append(det.last_timings[k])
        t = time.perf_counter()
        sess.run(None, {"input_0": x})
        inf.append(time.perf_counter() - t)
    med = lambda v: float(np.median(v))  # noqa: E731
    return {"detector_ms": med(e2e) * 1e3, "inference_ms": med(inf) * 1e3,
            "detector_stages_ms": {k: med(v) for k, v in stages.items()}}


def precision_case(fp32, path, predict, pth, frames, frame, repeat):
    """One reduced-precision ONNX of the same checkpoint through ``backend="auto"``: what runs
    it, against the Predictor at 0.4 and 0.01, and its detections against the FP32 Detector's
    over every fourth frame of the clip at 0.4."""
    from ssd_edge.runtime import Detector
    with Detector.load(path, backend="auto", max_detections=-1) as det:
        out = {"artifact": os.path.basename(path), "backend": det.backend_name,
               "precision": det.precision, "backend_reason": det.backend_reason,
               "cases": [versus_predictor(det, predict, frame, 0.4, repeat),
                         versus_predictor(det, predict, frame, 0.01, 5)],
               "forward_only": forward_only(det, pth, frame, repeat),
               "versus_fp32": agreement_over(fp32, det, frames[::4], 0.4)}
    return out


def needed_for(target, case, fwd):
    """What the FP32 network would have to do for ``target``x the Predictor at ``case``'s
    threshold, keeping this run's pre- and post-processing: its time and arithmetic rate."""
    around = case["detector_ms"] - fwd["backend_ms"]
    ms = case["predictor_ms"] / target - around
    return {"target": target, "network_ms": round(ms, 3),
            "gflops": round(fwd["conv_gflop"] / ms * 1e3, 1) if ms > 0 else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", help="a .pth to use instead of random seeded mb1-ssd weights")
    ap.add_argument("--net", default="mb1-ssd", help="zoo net for the random weights")
    ap.add_argument("--pytorch-ssd", default=os.environ.get("SSD_EDGE_PYTORCH_SSD"),
                    help="pytorch-ssd checkout whose Predictor is the reference "
                         "(default: $SSD_EDGE_PYTORCH_SSD)")
    ap.add_argument("--frames", type=int, default=300, help="frames of the 640x480 test video")
    ap.add_argument("--runs", type=int, default=3, help="ssd-live runs and bare-session passes")
    ap.add_argument("--repeat", type=int, default=100, help="single-frame timings")
    ap.add_argument("--json", help="result file (default benchmarks/results/live_<cpu>.json)")
    a = ap.parse_args()

    import torch
    from ssd_edge.data.video import generate_video
    from ssd_edge.fileio import atomic_write_text
    from ssd_edge.runtime import Detector
    model_name, isa, slug = cpu_description()
    threads = torch.get_num_threads()            # the Predictor's; ORT keeps its own default
    res = {"schema": 2, "benchmark": "live_cpu", "cpu": model_name, "isa": isa,
           "cores": os.cpu_count(), "torch_threads": threads, "nice": os.nice(0),
           "python": platform.python_version(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as d:
        pth, onnx_paths, spec = make_model(d, a.checkpoint, a.net)
        onnx_path = onnx_paths["fp32"]
        import onnxruntime
        try:
            from openvino import __version__ as openvino_version
        except ImportError:          # auto then runs the FP16/INT8 files on ONNX Runtime
            openvino_version = None
        res.update(net=spec.arch, input_size=list(spec.input_size), classes=spec.num_classes,
                   width_mult=spec.width_mult, activation=spec.activation,
                   weights=a.checkpoint or "random (torch.manual_seed(0))",
                   onnxruntime=onnxruntime.__version__, openvino=openvino_version)
        video, _ = generate_video(os.path.join(d, "clip.mp4"), n_frames=a.frames,
                                  size=(640, 480))
        frames = read_frames(video)
        res["video"] = {"frames": len(frames), "frame_size": [640, 480]}

        bare = bare_fps(onnx_path, spec, frames, a.runs, None)
        live = live_fps(onnx_path, video, d, a.runs, len(frames))
        live_med, bare_med = float(np.median([r["fps"] for r in live])), float(np.median(bare))
        res["throughput"] = {"bare_session_fps": [round(v, 2) for v in bare],
                             "ssd_live_runs": live, "bare_fps_median": round(bare_med, 2),
                             "live_fps_median": round(live_med, 2),
                             "ratio": round(live_med / bare_med, 3), "target_ratio": 0.8}

        frame = frames[len(frames) // 2]
        repeat = max(10, a.repeat // 2)
        predict, what = open_predictor(a.pytorch_ssd, spec, pth, 200)
        res["predictor"] = {"reference": what, "target_speedup_at_0.4": 3.0}
        with Detector.load(onnx_path, backend="ort", max_detections=-1) as det:
            lat = latency(det, frame, a.repeat)
            lat["overhead_ms"] = lat["detector_ms"] - lat["inference_ms"]
            lat["target_overhead_ms"] = 3.0
            res["latency"] = {k: (round(v, 3) if isinstance(v, float) else
                                  {s: round(x, 3) for s, x in v.items()} if isinstance(v, dict)
                                  else v) for k, v in lat.items()}
            res["predictor"].update(cases=[versus_predictor(det, predict, frame, 0.4, repeat),
                                           versus_predictor(det, predict, frame, 0.01, 5)],
                                    forward_only=forward_only(det, pth, frame, repeat))
            res["predictor"]["fp32_for_3x"] = needed_for(3.0, res["predictor"]["cases"][0],
                                                         res["predictor"]["forward_only"])
            res["precisions"] = [precision_case(det, path, predict, pth, frames, frame, repeat)
                                 for path in (onnx_paths["fp16"], onnx_paths["int8"])]

    t, l, p = res["throughput"], res["latency"], res["predictor"]["cases"]
    print("%s on %s (%s), %d cores, nice %d" % (res["net"], model_name, ",".join(isa),
                                                res["cores"], res["nice"]))
    print("  bare ONNX Runtime session  %7.1f FPS (median of %d passes over %d frames)"
          % (t["bare_fps_median"], len(bare), len(frames)))
    print("  ssd-live .jsonl headless   %7.1f FPS  ratio %.2f (target >= 0.8)"
          % (t["live_fps_median"], t["ratio"]))
    print("  Detector one frame         %7.2f ms  inference alone %.2f ms  overhead %.2f ms "
          "(target <= 3)" % (l["detector_ms"], l["inference_ms"], l["overhead_ms"]))
    print("  Predictor reference: %s" % res["predictor"]["reference"])
    for c in p:
        print("  threshold %-5s Detector %7.2f ms  Predictor %7.2f ms  %5.1fx  detections %d/%d "
              "identical=%s%s" % (c["threshold"], c["detector_ms"], c["predictor_ms"],
                                  c["speedup"], c["detections"], c["predictor_detections"],
                                  c["identical"], "" if c["identical"] else
                                  " (score ties in %d classes)" % len(c["tied_classes"])))
    f = res["predictor"]["forward_only"]
    print("  networks alone: ONNX Runtime %.2f ms, torch eager %.2f ms (%.2fx: the bound on the "
          "speed-up when NMS has little to do); %.2f GFLOP of convolutions: %.0f vs %.0f GFLOP/s"
          % (f["backend_ms"], f["torch_eager_ms"], f["ratio"], f["conv_gflop"],
             f["backend_gflops"], f["torch_eager_gflops"]))
    n = res["predictor"]["fp32_for_3x"]
    print("  3x at 0.4 in FP32 would need the network in %.2f ms (%s GFLOP/s)"
          % (n["network_ms"], n["gflops"]))
    for r in res["precisions"]:
        c4, c01, v = r["cases"][0], r["cases"][1], r["versus_fp32"]
        print("  %-16s auto -> %s %s: Detector %.2f ms, %.1fx the Predictor at 0.4, %.1fx at "
              "0.01; network %.2f ms; agrees with FP32 on %.1f%% (%d/%d detections, %d frames)"
              % (r["artifact"], r["backend"], r["precision"], c4["detector_ms"], c4["speedup"],
                 c01["speedup"], r["forward_only"]["backend_ms"], 100 * v["agreement"],
                 v["detections"], v["reference_detections"], v["frames"]))
    name = slug if a.checkpoint is None else "%s_%s" % (slug, spec.arch)
    out = a.json or os.path.join(ROOT, "benchmarks", "results", "live_%s.json" % name)
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    print("wrote %s" % os.path.relpath(out))
    best = max([(p[0]["speedup"], "model.onnx fp32")] + [
        (r["cases"][0]["speedup"], "%s %s" % (r["artifact"], r["precision"]))
        for r in res["precisions"]])
    print("  fastest at threshold 0.4: %s, %.1fx the Predictor (target >= 3)" % (best[1], best[0]))
    ok = t["ratio"] >= 0.8 and l["overhead_ms"] <= 3.0 and best[0] >= 3.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
