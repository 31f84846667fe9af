"""Time every case and assemble the result document (schema in benchmarks/README.md).

A case: open the detector (timed as ``load_seconds``), run ``warmup`` untimed batches, then up to
``iterations`` timed ``detect_batch`` calls on synthetic 640×480 BGR frames already in memory
(frame decoding is not part of any figure). Each call's end-to-end time is measured around
``detect_batch``; the preprocess / inference / postprocess split is the detector's own
``last_timings`` for that call, so the stages add up to slightly less than end to end (the rest
is Python glue, reported as it is). With ``--data`` the mAP is computed once per artifact and
backend, after the timing, at the evaluation threshold.
"""
import datetime
import os
import sys
import time

import numpy as np

from ..errors import SsdEdgeError
from . import memory, stats
from ..runtime.backends.registry import owns_frame_path
from .cases import open_case, plan
from .environment import capture_environment, temperatures
from .ratios import compute_ratios

#: 2: ``results[].precision`` is what the backend reported computing in (1: the file's).
SCHEMA = 2
KIND = "ssd-edge.bench"
STAGES = ("preprocess", "inference", "postprocess", "end_to_end")


def make_frames(n, frame_size=(640, 480), seed=0, unique=8):
    """``n`` BGR uint8 frames ``(H, W, 3)``: up to ``unique`` synthetic scenes, repeated."""
    w, h = int(frame_size[0]), int(frame_size[1])
    scenes = []
    try:
        from ..data.synthetic import synthesize
        for i in range(min(n, unique)):
            scenes.append(synthesize(seed, i, w, h)[0])
    except ImportError:           # no OpenCV: textured noise does as well for timing
        rng = np.random.default_rng(seed)
        scenes = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(min(n, unique))]
    return [scenes[i % len(scenes)] for i in range(n)]


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="it", leave=False, file=sys.stderr)


def _time_loop(det, frames, options, desc):
    """Warm up, then time; returns per-stage sample lists (ms) and the last call's detections."""
    for _ in range(options.warmup):
        det.detect_batch(frames)
    samples = {k: [] for k in STAGES}
    bar = _progress(options.iterations, desc, options.progress)
    start = time.perf_counter()
    dets = []
    try:
        for i in range(options.iterations):
            t0 = time.perf_counter()
            dets = det.detect_batch(frames)
            samples["end_to_end"].append((time.perf_counter() - t0) * 1e3)
            for k in STAGES[:3]:
                samples[k].append(float(det.last_timings.get(k, 0.0)))
            if bar is not None:
                bar.update(1)
            if (options.max_seconds and i + 1 >= options.min_iterations
                    and time.perf_counter() - start > options.max_seconds):
                break
    finally:
        if bar is not None:
            bar.close()
    return samples, time.perf_counter() - start, dets


def _describe(det, case):
    backend = getattr(det, "backend", None)
    device = getattr(backend, "device", None) or getattr(det, "device", None)
    owns = backend is not None and owns_frame_path(backend)
    nms = "graph" if getattr(det, "graph_nms", None) is not None else (
        "device" if owns else "host")
    spec = det.spec
    return {"arch": spec.arch, "input_size": list(spec.input_size),
            "num_classes": spec.num_classes - 1, "precision": det.precision,
            "device": str(device) if device is not None else None, "nms": nms,
            "backend_reason": getattr(det, "backend_reason", "")}


def _map(det, options, dataset):
    from ..eval.runner import evaluate_detector
    saved = det.conf_threshold
    det.conf_threshold = options.map_threshold
    try:
        result = evaluate_detector(det, dataset, options.metric, progress=options.progress)
    finally:
        det.conf_threshold = saved
    return {"metric": options.metric, "value": round(float(result["map"]), 5),
            "images": result["num_images"], "conf_threshold": options.map_threshold}


def _reason(err):
    """One line for a failed case; ``SSD_EDGE_DEBUG=1`` re-raises to show the traceback."""
    if os.environ.get("SSD_EDGE_DEBUG"):
        raise err
    if isinstance(err, SsdEdgeError):
        return str(err)
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return "%s: %s" % (type(err).__name__, (lines[-1] if lines else "")[:300])


def _base_row(case):
    return {"model": os.path.basename(case.path), "path": os.path.abspath(case.path),
            "backend": case.backend, "batch": case.batch, "nms_request": case.nms,
            "precision_request": case.precision,
            "file_size_mb": memory.file_size_mb(case.path)}


def run_case(case, options, dataset=None, maps=None):
    """Measure one case; returns its result row (``status`` ok or failed)."""
    row = _base_row(case)
    scope = memory.reset_peak_rss()
    t0 = time.perf_counter()
    try:
        det = open_case(case, options)
    except Exception as e:  # noqa: BLE001 - a backend that cannot open this file is a result
        row.update(status="failed", reason=_reason(e))
        return row
    try:
        row["load_seconds"] = round(time.perf_counter() - t0, 3)
        row.update(_describe(det, case))
        memory.reset_peak_gpu(row["device"])
        frames = make_frames(case.batch, options.frame_size, options.seed)
        desc = "%s %s b%d" % (row["model"], case.backend, case.batch)
        try:
            samples, seconds, dets = _time_loop(det, frames, options, desc)
        except Exception as e:  # noqa: BLE001 - e.g. OpenCV DNN lacking a kernel for FP16
            row.update(status="failed", reason=_reason(e))
            return row
        row["status"] = "ok"
        row["iterations"] = len(samples["end_to_end"])
        row["latency_ms"] = {k: stats.summarize(v) for k, v in samples.items()}
        row["throughput_ips"] = stats.throughput(case.batch, row["latency_ms"]["end_to_end"]["mean"])
        row["wall_throughput_ips"] = round(case.batch * row["iterations"] / seconds, 2)
        row["detections_per_frame"] = round(float(np.mean([len(d) for d in dets])), 2) \
            if dets else 0.0
        row["peak_rss_mb"], row["rss_scope"] = memory.peak_rss_mb(), scope
        row["gpu_memory_mb"] = memory.peak_gpu_mb(row["device"])
        row["map"] = None
        if dataset is not None:
            key = (row["path"], case.backend, case.nms, case.precision)
            if key not in maps:
                try:
                    maps[key] = _map(det, options, dataset)
                except SsdEdgeError as e:    # e.g. no class names in common: keep the timing
                    maps[key] = {"error": str(e)}
            if "error" in maps[key]:
                row["map_error"] = maps[key]["error"]
            else:
                row["map"] = maps[key]
        return row
    finally:
        det.close()


def _open_dataset(options):
    if not options.data:
        return None
    from ..data import load_dataset
    return load_dataset(options.data, split=options.split)


def run_bench(paths, options, command=None, label=None, echo=None, map_paths=None):
    """Run every case for ``paths``; return the result document (a JSON-ready dict).

    ``echo(row)`` is called after each case (for a live table); None = silent. With
    ``options.data``, the mAP is measured for ``map_paths`` only (None = every path).
    """
    environment = capture_environment(label=label)
    dataset = _open_dataset(options)
    cases, skipped = plan(paths, options)
    rows = [dict(model=os.path.basename(p), path=os.path.abspath(p), backend=b, batch=n,
                 status="skipped", reason=why, file_size_mb=memory.file_size_mb(p))
            for p, b, n, why in skipped]
    maps = {}
    scored = None if map_paths is None else set(os.path.abspath(p) for p in map_paths)
    for case in cases:
        use = dataset if scored is None or os.path.abspath(case.path) in scored else None
        row = run_case(case, options, use, maps)
        rows.append(row)
        if echo is not None:
            echo(row)
    environment["temperatures_after"] = temperatures()
    settings = {k: getattr(options, k) for k in options.__dataclass_fields__}
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()}
    doc = {"schema": SCHEMA, "kind": KIND,
           "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": command, "settings": settings, "environment": environment,
           "results": rows}
    doc["ratios"] = compute_ratios(doc)
    return doc
