#!/usr/bin/env python3
"""Throughput of one ``triton://`` Detector shared by 16 client threads against one thread.

The bundled model is exported with ``ssd-export --triton DIR --triton-backend python`` (the
repository's defaults) and served by a real tritonserver (nvidia-pytriton's, python backend, on
127.0.0.1, its environment built as the tests build it); clients send 640x480 frames of the
bundled demo clip. Measured, 1-thread and 16-thread rounds interleaved over ``--repeats``
rounds (medians quoted):

* ``network``: the Detector pre- and post-processes locally, one request per frame; the server's
  dynamic batcher merges concurrent requests into batches;
* ``pipeline``: frames go to the ``_pipeline`` ensemble (uint8 in, detections out);
* ``network_shm``, ``pipeline_shm``: the same with ``?shm=1`` (inputs through system shared
  memory instead of inside each gRPC request, as a client on the server's machine can);
* the local ONNX Runtime Detector, one thread, for scale.

Frames per second count every stage (pre-processing, transfer, network, NMS). Recorded with
each figure: the 1-minute load average during its rounds (other processes on the machine take
CPU from both the server and the clients), and the CPU time per frame of each process (this
client process, tritonserver, and the python backend stubs of each model), which says where the
cores went, and how many cores each case kept busy. Under load (other processes on the cores)
the 16-thread case cannot get the cores it could use; the summary also gives the ratio the
measured CPU per frame allows with every core free. Also: the batch sizes the network ran, and
the CPU instruction set.

    python benchmarks/triton_bench.py [--frames 64] [--repeats 5] [--json FILE]

Writes ``benchmarks/results/triton_<cpu>.json`` and prints a summary table.
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
NAME = "shapes"


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


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu(server_pid):
    """CPU seconds so far: ``client`` (this process), ``tritonserver``, and the python backend
    stubs summed per model (``stub:<model>``, from the instance name on the stub's command line)."""
    out = {"client": _cpu_seconds(os.getpid()), "tritonserver": _cpu_seconds(server_pid)}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != server_pid:
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
            # ... model.py SHM_KEY SIZE GROWTH PARENT_PID BACKEND_DIR IPC_SIZE INSTANCE_NAME ...
            instance = args[8].decode() if len(args) > 8 else "?"
            model = instance.rsplit("_", 2)[0]
            key = "stub:" + model
            out[key] = out.get(key, 0.0) + _cpu_seconds(int(entry))
        except (OSError, ValueError, IndexError):
            continue                # a process that ended meanwhile
    return out


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


def measure(server, dets, cases, frames, repeats):
    """Interleaved rounds; per case: seconds, load averages, CPU seconds by process."""
    rounds = {c: [] for c in cases}
    for _ in range(repeats):
        for name, n in cases:                   # interleaved: drift hits every case alike
            c0, l0 = process_cpu(server.proc.pid), os.getloadavg()[0]
            s = run_threads(dets[name], frames, n)
            c1, l1 = process_cpu(server.proc.pid), os.getloadavg()[0]
            cpu = {k: c1[k] - c0.get(k, 0.0) for k in c1}
            rounds[(name, n)].append({"s": s, "load": (l0 + l1) / 2, "cpu": cpu})
    return rounds


def summarise(rounds, n_frames):
    out = {}
    for (name, n), rs in rounds.items():
        med = statistics.median(r["s"] for r in rs)
        keys = sorted({k for r in rs for k in r["cpu"]})
        cpu = {k: round(statistics.median(r["cpu"].get(k, 0.0) for r in rs) / n_frames * 1e3, 2)
               for k in keys}
        busy = sum(cpu.values()) / (med / n_frames * 1e3)
        out["%s_%dthread%s" % (name, n, "s" if n > 1 else "")] = {
            "model": name, "threads": n, "median_s": round(med, 4), "cores_busy": round(busy, 2),
            "fps": round(n_frames / med, 1), "runs_s": [round(r["s"], 4) for r in rs],
            "load_average_1min": round(statistics.median(r["load"] for r in rs), 2),
            "load_average_runs": [round(r["load"], 2) for r in rs],
            "cpu_ms_per_frame": cpu}
    return out


def table(res):
    """The summary as text lines (what the benchmark prints)."""
    fps = res["throughput"]
    stubs = sorted({k for v in fps.values() for k in v["cpu_ms_per_frame"] if k.startswith("stub")})
    cols = ["client", "tritonserver"] + stubs
    head = "%-12s %7s %8s %9s %6s %6s | CPU ms/frame: %s" % (
        "model", "threads", "fps", "ms/frame", "load1", "cores", "  ".join(c.replace("stub:", "")
                                                               for c in cols))
    lines = ["triton_bench: %s, %d cores, %s; %d frames/round, %d rounds (medians)"
             % (res["cpu"], res["cores"], " ".join(res["isa"]), res["frames_per_round"],
                res["repeats"]), head, "-" * len(head)]
    for key, v in fps.items():
        cpu = v["cpu_ms_per_frame"]
        lines.append("%-12s %7d %8.1f %9.2f %6.2f %6.2f | %s" % (
            v["model"], v["threads"], v["fps"], v["median_s"] / res["frames_per_round"] * 1e3,
            v["load_average_1min"], v["cores_busy"], "  ".join("%s=%.2f" % (c.replace("stub:", ""), cpu.get(c, 0))
                                              for c in cols if cpu.get(c))))
    for k, r in res["speedup_16_vs_1"].items():
        lines.append("%d threads vs 1, %s: %.2fx (target >= 1.3x: %s); the %d threads kept "
                     "%.2f of %d cores busy, the CPU per frame allows %.2fx with all %d free"
                     % (res["threads"], k, r, "met" if r >= 1.3 else "NOT met", res["threads"],
                        fps["%s_%dthreads" % (k, res["threads"])]["cores_busy"], res["cores"],
                        res["ceiling_16_vs_1"][k], res["cores"]))
    lines.append("network batch sizes run (size: count): %s" % res["network_batches_during_runs"])
    lines.append("load average (1, 5, 15 min) at start %s, at end %s"
                 % (res["load_average_start"], res["load_average_end"]))
    return lines


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
    load_start = [round(x, 2) for x in os.getloadavg()]
    model_name, isa, slug = cpu_description()
    frames = demo_frames(a.frames)
    work = tempfile.mkdtemp(prefix="triton-bench-")
    bundled = os.path.join(ROOT, "ssd_edge", "assets", "shapes-mb2-ssd-lite.pth")
    repo = os.path.join(work, "repo")
    export([bundled, "--output-dir", work, "--triton", repo, "--triton-backend", "python",
            "--triton-name", NAME, "-q", "--no-check"])
    onnx_path = os.path.join(work, "shapes-mb2-ssd-lite.onnx")
    env = tritonserver.ensure_env()
    with open(os.path.join(repo, NAME, "config.pbtxt")) as f:
        config_text = f.read().split("parameters {")[0]
    with tritonserver.TritonServer(repo, env, os.path.join(work, "server.log")) as server:
        base = "triton://127.0.0.1:%d/" % server.grpc_port
        dets = {"network": Detector.load(base + NAME),
                "pipeline": Detector.load(base + NAME + "_pipeline"),
                "network_shm": Detector.load(base + NAME + "?shm=1"),
                "pipeline_shm": Detector.load(base + NAME + "_pipeline?shm=1"),
                "local_ort": Detector.load(onnx_path, backend="ort")}
        cases = [(m, n) for m in ("network", "pipeline", "network_shm", "pipeline_shm")
                 for n in (1, THREADS)] + [("local_ort", 1)]
        for name, n in cases:                   # warm-up: sessions, connections, caches
            run_threads(dets[name], frames[:THREADS], n)
        before = batch_counts(server.grpc_port, NAME)
        rounds = measure(server, dets, cases, frames, a.repeats)
        after = batch_counts(server.grpc_port, NAME)
        for d in dets.values():
            d.close()
    fps = summarise(rounds, len(frames))
    ratio = {k: round(fps["%s_%dthreads" % (k, THREADS)]["fps"] / fps["%s_1thread" % k]["fps"], 2)
             for k in ("network", "pipeline", "network_shm", "pipeline_shm")}
    # What 16 threads could reach if every core were theirs: one thread's ms per frame over
    # (16 threads' CPU ms per frame / cores). Under load the measured ratio stays below it.
    ceiling = {}
    for k in ratio:
        one, many = fps["%s_1thread" % k], fps["%s_%dthreads" % (k, THREADS)]
        ceiling[k] = round((one["median_s"] / len(frames) * 1e3) /
                           (sum(many["cpu_ms_per_frame"].values()) / os.cpu_count()), 2)
    batches = {str(b): after.get(b, 0) - before.get(b, 0) for b in sorted(after)
               if after.get(b, 0) - before.get(b, 0)}
    per_frame = ort_ms_per_frame(onnx_path)
    res = {"schema": 2, "benchmark": "triton_throughput", "cpu": model_name, "isa": isa,
           "cores": os.cpu_count(), "server": "tritonserver 2.51 (nvidia-pytriton 0.7.0), "
           "python backend, ONNX Runtime on CPU", "protocol": "grpc",
           "model": "bundled shapes-mb2-ssd-lite (300x300)", "frame_size": [640, 480],
           "network_config": config_text.strip().splitlines(),
           "frames_per_round": len(frames), "repeats": a.repeats, "threads": THREADS,
           "throughput": fps, "speedup_16_vs_1": ratio, "ceiling_16_vs_1": ceiling,
           "network_batches_during_runs": batches,
           "ort_ms_per_frame_by_batch": per_frame, "load_average_start": load_start,
           "load_average_end": [round(x, 2) for x in os.getloadavg()]}
    path = a.json or os.path.join(HERE, "results", "triton_%s.json" % slug)
    from ssd_edge.fileio import atomic_write_text
    atomic_write_text(path, json.dumps(res, indent=2) + "\n")
    print("\n".join(table(res)))
    print("written: %s" % path)


if __name__ == "__main__":
    main()
