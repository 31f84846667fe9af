#!/usr/bin/env python3
"""Several streams in one ssd-live against one ssd-live per stream, and the tracker's cost.

Measured in one run on this CPU with the default (bundled) model through ``backend="auto"``:

1. ``multi``: the real ``ssd-live --source demo:// x4 --output out-{stream}.jsonl --headless``
   in a subprocess: one Detector, the four streams' frames batched into ``detect_batch``;
2. ``single``: four ``ssd-live --source demo:// --output out.jsonl --headless`` one after
   another, same flags;
   → aggregate throughput (frames of every stream per second) of 1 over 2 (target >= 1.2x),
   both from ssd-live's own summary line (frames over the pipeline's time: model loading
   excluded) and from the wall clock of the processes (loading included);
   and ``warm``: the same comparison inside one process on one loaded Detector after a warm-up
   frame (``MultiPipeline`` of the four sources against four ``Pipeline`` runs one after
   another, the order alternating between repeats), which leaves out process start, model
   loading and the first call's one-off cost, so it isolates batching and overlap;
3. ``bare``: the Detector's network alone (``backend(feeds)`` on inputs preprocessed
   beforehand) at batch 1 and batch 4, frames per second — the ceiling batching can reach;
4. ``tracker``: ByteTrack's (and SORT's, OC-SORT's) update per frame with 20 objects moving
   over 300 frames, median milliseconds (target <= 1 ms), the conversion to and from the
   library's detections included.

Medians of ``--repeats`` runs; the CPU model and instruction sets come with the figures.
Results go to ``benchmarks/results/multi_<cpu>.json``.

    python benchmarks/multi_bench.py [--frames 60] [--repeats 3]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

_SUMMARY = re.compile(r"frames: (\d+) in ([\d.]+) s")


def ssd_live(args, folder):
    """Run ssd-live; ``(frames, pipeline seconds, wall seconds)`` from its summary line."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ssd_edge.cli.live", "--headless"] + args,
                       capture_output=True, text=True, cwd=folder, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit("ssd-live failed:\n" + p.stderr)
    m = _SUMMARY.search(p.stderr)
    return int(m.group(1)), float(m.group(2)), wall


def multi_vs_single(frames, folder, multi_first=True):
    sources = [a for _ in range(4) for a in ("--source", "demo://")]

    def multi():
        return ssd_live(sources + ["--max-frames", str(frames),
                                   "--output", "multi-{stream}.jsonl"], folder)

    def singles():
        return [ssd_live(["--source", "demo://", "--max-frames", str(frames),
                          "--output", "single-%d.jsonl" % i], folder) for i in range(4)]
    if multi_first:
        (n, t, wall), single = multi(), singles()
    else:
        single = singles()
        n, t, wall = multi()
    sn, st, sw = (sum(x[i] for x in single) for i in range(3))
    assert n == sn == 4 * frames, (n, sn)
    return {"multi_fps": n / t, "single_fps": sn / st, "ratio": (n / t) / (sn / st),
            "multi_wall_fps": n / wall, "single_wall_fps": sn / sw,
            "wall_ratio": (n / wall) / (sn / sw)}


def warm_in_process(det, frames, multi_first):
    """Frames per second of 4 streams batched vs 4 single runs, on the loaded ``det``."""
    from ssd_edge.runtime.stream import JsonlSink, Pipeline, PipelineOptions, open_source
    from ssd_edge.runtime.stream.multi import MultiPipeline, StreamState
    opts = PipelineOptions(max_frames=frames)
    folder = tempfile.mkdtemp()

    def multi():
        states = [StreamState(i, open_source("demo://"),
                              [JsonlSink(os.path.join(folder, "m%d.jsonl" % i))])
                  for i in range(4)]
        t0 = time.perf_counter()
        MultiPipeline(states, det, options=opts).run()
        return 4 * frames / (time.perf_counter() - t0)

    def single():
        t0 = time.perf_counter()
        for i in range(4):
            Pipeline(open_source("demo://"), det, [JsonlSink(os.path.join(folder, "s%d.jsonl" % i))],
                     options=opts).run()
        return 4 * frames / (time.perf_counter() - t0)

    if multi_first:
        m, s = multi(), single()
    else:
        s, m = single(), multi()
    return {"multi_fps": m, "single_fps": s, "ratio": m / s}


def bare_network(iterations=20):
    """Frames per second of the backend alone at batch 1 and 4 (inputs preprocessed once)."""
    import cv2

    from ssd_edge.runtime.stream import load_detector
    from ssd_edge.runtime.assets import demo_clip
    det = load_detector(None)
    cap = cv2.VideoCapture(demo_clip())
    frames = [cap.read()[1] for _ in range(4)]
    out = {"backend": det.backend_name, "precision": det.precision}
    for b in (1, 4):
        feeds = {det.backend.inputs[0]: det._pre(frames[:b])}
        det.backend(feeds)
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            det.backend(feeds)
            times.append(time.perf_counter() - t0)
        out["batch%d_fps" % b] = b / statistics.median(times)
    det.close()
    return out


def tracker_cost(method, objects=20, frames=300):
    """Median ms per ``Tracker`` update with ``objects`` boxes drifting over ``frames``."""
    from ssd_edge import Detections
    from ssd_edge.runtime.stream.tracking import Tracker, TrackOptions
    rng = np.random.default_rng(0)
    start = rng.uniform(0, 560, (objects, 2)).astype(np.float32)
    speed = rng.uniform(-4, 4, (objects, 2)).astype(np.float32)
    tr = Tracker(TrackOptions(method), fps=30)
    times = []
    for t in range(frames):
        xy = start + speed * t
        boxes = np.concatenate([xy, xy + 40], 1)
        dets = Detections(boxes, rng.uniform(0.75, 1.0, objects), np.ones(objects, np.int64))
        t0 = time.perf_counter()
        out = tr(dets)
        times.append((time.perf_counter() - t0) * 1e3)
    tracked = int((out.track_ids >= 0).sum())
    assert tracked >= objects * 0.8, (method, tracked)
    return statistics.median(times[10:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60, help="frames per stream (default 60)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="result file (default benchmarks/results/multi_<cpu>.json)")
    a = ap.parse_args()
    from live_bench import cpu_description

    from ssd_edge.fileio import atomic_write_text
    model, isa, slug = cpu_description()
    print("CPU: %s [%s]" % (model, " ".join(isa)))
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for r in range(a.repeats):
            runs.append(multi_vs_single(a.frames, folder, multi_first=r % 2 == 0))
            print("run %d: 4 streams in one ssd-live %.2f FPS, four single runs %.2f FPS: %.2fx "
                  "(wall clock, loading included: %.2fx)" % (
                      r + 1, runs[-1]["multi_fps"], runs[-1]["single_fps"], runs[-1]["ratio"],
                      runs[-1]["wall_ratio"]))
    med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
    from ssd_edge.runtime.stream import load_detector
    det = load_detector(None)
    det(np.zeros((480, 640, 3), np.uint8))                      # the first call's one-off cost
    warm = []
    for r in range(a.repeats):
        warm.append(warm_in_process(det, a.frames, multi_first=r % 2 == 0))
        print("warm run %d (one process, model loaded): 4 streams batched %.2f FPS, four single "
              "runs %.2f FPS: %.2fx" % (r + 1, warm[-1]["multi_fps"], warm[-1]["single_fps"],
                                        warm[-1]["ratio"]))
    det.close()
    warm_med = {k: statistics.median(x[k] for x in warm) for k in warm[0]}
    bare = bare_network()
    print("bare network (%s %s): batch 1 %.2f FPS, batch 4 %.2f FPS (%.2fx)" % (
        bare["backend"], bare["precision"], bare["batch1_fps"], bare["batch4_fps"],
        bare["batch4_fps"] / bare["batch1_fps"]))
    track = {m: tracker_cost(m) for m in ("bytetrack", "sort", "ocsort")}
    print("tracker per frame, 20 objects: " + ", ".join("%s %.3f ms" % kv for kv in track.items()))
    res = {"schema": 1, "benchmark": "multi", "cpu": model, "isa": isa,
           "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
           "logical_cores": os.cpu_count(),
           "model": "bundled (default)", "frames_per_stream": a.frames, "repeats": a.repeats,
           "median": med, "runs": runs, "warm_median": warm_med, "warm_runs": warm, "bare_network": bare, "tracker_ms_20_objects": track,
           "targets": {"ratio >= 1.2": med["ratio"] >= 1.2,
                       "bytetrack <= 1 ms": track["bytetrack"] <= 1.0}}
    out = a.json or os.path.join(HERE, "results", "multi_%s.json" % slug)
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    print("median ratio %.2fx, warm in one process %.2fx (target 1.2x); wrote %s" % (
        med["ratio"], warm_med["ratio"], out))


if __name__ == "__main__":
    main()
