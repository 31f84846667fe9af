#!/usr/bin/env python3
"""ssd-live and the Detector on this CPU against the bare ONNX Runtime session and pytorch-ssd.

Measured in one run, with one mb1-ssd FP32 ONNX (random seeded weights, 21 VOC classes, exported
by ssd-export's own code; or ``--checkpoint model.pth``) on a generated 640x480 video:

1. ``bare``: frames per second of the bare ONNX Runtime session (``session.run`` on inputs
   preprocessed beforehand, ONNX Runtime's default thread count, as ssd-live uses);
2. ``live``: frames per second of the real ``ssd-live --source video.mp4 --output out.jsonl
   --headless --backend ort`` in a subprocess (its own summary line: decode, pre/post-processing,
   the .jsonl writer, model loading excluded) → ``live / bare`` (target >= 0.8);
3. ``latency``: ``Detector`` end to end on one decoded 640x480 frame (preprocess + inference +
   post-processing) against ``session.run`` alone on the same session, interleaved → the
   difference (target <= 3 ms);
4. ``predictor``: the same Detector against pytorch-ssd's Predictor with the same weights on the
   same frame at threshold 0.4 (target >= 3x). With ``--pytorch-ssd DIR`` (or the environment
   variable SSD_EDGE_PYTORCH_SSD) pointing at a pytorch-ssd checkout, its own ``Predictor``
   (``vision/ssd/predictor.py``, ``box_utils.nms``) runs its own net with our weights loaded;
   otherwise the stand-in is PredictionTransform's steps + the zoo net in eager torch + the
   literal loop transcription in ``tests/unit/nms_reference.py``, and the output says so. The
   BGR→RGB conversion pytorch-ssd's callers do is counted on its side, as the Detector does it
   inside. Threshold 0.01 is timed too, for information.

Figures are medians; the CPU model and instruction sets come with them. Results go to
``benchmarks/results/live_<cpu>.json``.

    python benchmarks/live_bench.py [--checkpoint M.pth] [--pytorch-ssd DIR] [--frames 300]
"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

_ISA = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
        "amx_int8", "asimd", "asimddp")
_PYTORCH_SSD_NETS = {      # zoo name → (pytorch-ssd module, constructor)
    "mb1-ssd": ("vision.ssd.mobilenetv1_ssd", "create_mobilenetv1_ssd"),
    "mb1-ssd-lite": ("vision.ssd.mobilenetv1_ssd_lite", "create_mobilenetv1_ssd_lite"),
    "vgg16-ssd": ("vision.ssd.vgg_ssd", "create_vgg_ssd"),
    "sq-ssd-lite": ("vision.ssd.squeezenet_ssd_lite", "create_squeezenet_ssd_lite"),
}


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
    """Return ``(pth, onnx, spec)``: the checkpoint (written with random seeded weights unless
    given) and its FP32 ONNX, exported by ssd-export's pipeline with its parity check."""
    from ssd_edge.export.options import ExportOptions
    from ssd_edge.export.pipeline import Source, run_export
    from ssd_edge.models import load_checkpoint
    checkpoint = make_checkpoint(folder, checkpoint, net, seed)
    model, spec = load_checkpoint(checkpoint)
    stem = os.path.join(folder, "model")
    run_export(Source(spec=spec, stem=stem, model=model), ExportOptions(), echo=lambda *_: None)
    return checkpoint, stem + ".onnx", spec


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


def _import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _placeholder_torchvision():
    """pytorch-ssd's transforms.py imports ``torchvision.transforms`` for a docstring example
    only; without torchvision an empty module stands in so its Predictor can be imported."""
    if importlib.util.find_spec("torchvision") is None:
        import types
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules.setdefault("torchvision", tv)
        sys.modules.setdefault("torchvision.transforms", tv.transforms)


def pytorch_ssd_predictor(checkout, spec, pth, candidate_size, device="cpu"):
    """pytorch-ssd's own Predictor; its own net when the zoo name maps onto one at 300 px."""
    import torch
    sys.path.insert(0, os.path.abspath(checkout))
    _placeholder_torchvision()
    from vision.ssd.predictor import Predictor
    net = None
    entry = _PYTORCH_SSD_NETS.get(spec.arch)
    if entry is None:
        which = "ssd_edge.models zoo net (no pytorch-ssd constructor mapped for %s)" % spec.arch
    else:
        which = "ssd_edge.models zoo net (pytorch-ssd's own nets are 300 px, this one is %s)" \
            % "x".join(str(v) for v in spec.input_size)
    if entry is not None and tuple(spec.input_size) == (300, 300):
        module = __import__(entry[0], fromlist=[entry[1]])
        net = getattr(module, entry[1])(spec.num_classes, is_test=True)
        net.load_state_dict(torch.load(pth, map_location="cpu"), strict=True)
        which = "pytorch-ssd's own %s.%s" % entry
    if net is None:
        from ssd_edge.models import load_checkpoint
        net = load_checkpoint(pth)[0]
    pred = Predictor(net, spec.input_size[0], np.array(spec.mean, np.float32),
                     np.array(spec.std, np.float32), iou_threshold=0.45,
                     candidate_size=candidate_size, device=torch.device(device))
    sink = io.StringIO()

    def run(rgb, threshold):
        with contextlib.redirect_stdout(sink):     # predict() prints the inference time
            boxes, labels, probs = pred.predict(rgb, -1, threshold)
        sink.seek(0)
        sink.truncate()
        return boxes.numpy().reshape(-1, 4), labels.numpy().reshape(-1), probs.numpy().reshape(-1)
    return run, "pytorch-ssd Predictor (%s); net: %s" % (os.path.abspath(checkout), which)


def reference_predictor(spec, pth, candidate_size, device="cpu"):
    """Stand-in without a checkout: PredictionTransform's steps, the zoo net in eager torch on
    ``device`` and the literal loop transcription of the Predictor's NMS on the host
    (tests/unit/nms_reference.py; the Predictor also moves the outputs to the CPU for it)."""
    import cv2
    import torch
    from ssd_edge.models import load_checkpoint
    ref = _import_file("nms_reference", os.path.join(ROOT, "tests", "unit", "nms_reference.py"))
    net = load_checkpoint(pth)[0].eval().to(device)
    h, w = spec.input_size
    mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)

    def run(rgb, threshold):
        img = cv2.resize(rgb, (w, h)).astype(np.float32)
        img = (img - mean) / std
        x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1).unsqueeze(0).to(device)
        with torch.no_grad():
            scores, boxes = net.forward(x)
        scores, boxes = scores[0].cpu().numpy(), boxes[0].cpu().numpy()
        picked = ref.predictor(scores, boxes, threshold, 0.45, candidate_size, -1)
        fh, fw = rgb.shape[:2]
        out = np.array([boxes[p] for _, p, _ in picked], np.float32).reshape(-1, 4)
        out *= np.array([fw, fh, fw, fh], np.float32)
        return (out, np.array([c for c, _, _ in picked], np.int64),
                np.array([s for _, _, s in picked], np.float32))
    return run, ("stand-in, no pytorch-ssd checkout given: PredictionTransform steps + "
                 "ssd_edge zoo net in eager torch + the loop transcription in "
                 "tests/unit/nms_reference.py")


def versus_predictor(det, predict, frame, threshold, repeat):
    """Median ms of ``det(frame)`` and of the Predictor on the same frame (3 warm-up calls per
    block, not timed); and whether the detections agree (same classes, boxes within 0.05 px)."""
    import cv2
    det.conf_threshold = threshold
    ours = det(frame)
    boxes, labels, probs = predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), threshold)
    same = (len(ours) == len(labels) and np.array_equal(ours.class_ids, labels)
            and np.allclose(ours.boxes, boxes, atol=0.05, rtol=0))
    # In blocks, not interleaved: torch's OpenMP workers keep spinning for a while after each
    # call and would slow the next ONNX Runtime call on a small CPU (a cost neither side has
    # when it runs alone). Detector blocks before and after the Predictor's.
    t_det, t_pred = [], []
    for fn, out in ((lambda: det(frame), t_det),
                    (lambda: predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), threshold), t_pred),
                    (lambda: det(frame), t_det)):
        for i in range(repeat + 3):
            t = time.perf_counter()
            fn()
            if i >= 3:
                out.append(time.perf_counter() - t)
    d, p = float(np.median(t_det)) * 1e3, float(np.median(t_pred)) * 1e3
    return {"threshold": threshold, "detections": len(ours), "predictor_detections": len(labels),
            "identical": bool(same), "detector_ms": round(d, 3), "predictor_ms": round(p, 3),
            "speedup": round(p / d, 2)}


def forward_only(det, pth, frame, repeat):
    """The networks alone, in blocks: ONNX Runtime's ``session.run`` (the Detector's session)
    and the same weights' eager torch forward (what the Predictor's time is mostly made of).
    Their ratio bounds the Detector/Predictor speed-up when the Predictor's loop has little to
    do (a high threshold): pre- and post-processing cannot win more than that."""
    import torch
    from ssd_edge.models import load_checkpoint
    from ssd_edge.runtime.preprocess import Preprocessor
    x = Preprocessor(det.spec)([frame])
    net, tx = load_checkpoint(pth)[0].eval(), torch.from_numpy(x)
    sess = det.backend.session
    times = {"onnxruntime_ms": [], "torch_eager_ms": []}
    with torch.no_grad():
        for key, fn in (("onnxruntime_ms", lambda: sess.run(None, {"input_0": x})),
                        ("torch_eager_ms", lambda: net(tx))):
            for i in range(repeat + 3):
                t = time.perf_counter()
                fn()
                if i >= 3:
                    times[key].append((time.perf_counter() - t) * 1e3)
    out = {k: round(float(np.median(v)), 3) for k, v in times.items()}
    out["ratio"] = round(out["torch_eager_ms"] / out["onnxruntime_ms"], 2)
    return out


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
    res = {"schema": 1, "benchmark": "live_cpu", "cpu": model_name, "isa": isa,
           "cores": os.cpu_count(), "torch_threads": threads, "nice": os.nice(0),
           "python": platform.python_version(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as d:
        pth, onnx_path, spec = make_model(d, a.checkpoint, a.net)
        import onnxruntime
        res.update(net=spec.arch, input_size=list(spec.input_size), classes=spec.num_classes,
                   weights=a.checkpoint or "random (torch.manual_seed(0))",
                   onnxruntime=onnxruntime.__version__)
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
        with Detector.load(onnx_path, backend="ort", max_detections=-1) as det:
            lat = latency(det, frame, a.repeat)
            lat["overhead_ms"] = lat["detector_ms"] - lat["inference_ms"]
            lat["target_overhead_ms"] = 3.0
            res["latency"] = {k: (round(v, 3) if isinstance(v, float) else
                                  {s: round(x, 3) for s, x in v.items()} if isinstance(v, dict)
                                  else v) for k, v in lat.items()}
            if a.pytorch_ssd:
                predict, what = pytorch_ssd_predictor(a.pytorch_ssd, spec, pth, 200)
            else:
                predict, what = reference_predictor(spec, pth, 200)
            res["predictor"] = {"reference": what, "target_speedup_at_0.4": 3.0, "cases": [
                versus_predictor(det, predict, frame, 0.4, max(10, a.repeat // 2)),
                versus_predictor(det, predict, frame, 0.01, 5)],
                "forward_only": forward_only(det, pth, frame, max(10, a.repeat // 2))}

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
              "identical=%s" % (c["threshold"], c["detector_ms"], c["predictor_ms"],
                                c["speedup"], c["detections"], c["predictor_detections"],
                                c["identical"]))
    f = res["predictor"]["forward_only"]
    print("  networks alone: ONNX Runtime %.2f ms, torch eager %.2f ms (%.2fx: the bound on the "
          "speed-up when NMS has little to do)" % (f["onnxruntime_ms"], f["torch_eager_ms"],
                                                   f["ratio"]))
    out = a.json or os.path.join(ROOT, "benchmarks", "results", "live_%s.json" % slug)
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    print("wrote %s" % os.path.relpath(out))
    ok = (t["ratio"] >= 0.8 and l["overhead_ms"] <= 3.0 and p[0]["speedup"] >= 3.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
