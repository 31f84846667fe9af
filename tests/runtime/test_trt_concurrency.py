"""One Detector shared by 8 threads over the TensorRT backend: every call gets its own frame's
detections, and the execution context runs one call at a time.

TEST DOUBLE: this runs against the fake ``tensorrt`` and fake CUDA device of tests/fakes (no
GPU and no TensorRT here). It checks ssd-edge's side — the Detector's lock around the backend,
the backend's shared pinned buffers, shapes and stream — not NVIDIA's runtime. The same check
on a real GPU (a real engine, real CUDA streams) is still to be run.
"""
import os
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from fakes import install_fakes  # noqa: E402
from fakes.tiny_onnx import make_tiny_onnx  # noqa: E402
from ssd_edge.export.tensorrt import BuildOptions, build_engine  # noqa: E402
from ssd_edge.errors import SsdEdgeError  # noqa: E402
from ssd_edge.runtime import Detector  # noqa: E402
from ssd_edge.runtime.backends.trt import TrtBackend  # noqa: E402

THREADS, CALLS = 8, 30


def _detector(tmp_path, monkeypatch, version, with_gpu=False):
    _, gpu = install_fakes(monkeypatch, version)
    onnx = make_tiny_onnx(tmp_path / "m.onnx", batch="batch")
    engine = build_engine(onnx, str(tmp_path / "m.engine"), BuildOptions(max_batch=4))
    det = Detector.load(engine.engine_path, backend="trt", conf_threshold=0.3)
    return (det, gpu) if with_gpu else det


def _frames():
    """Frames of different sizes and contents: each has its own detections."""
    rng = np.random.RandomState(7)
    return [(rng.rand(8 + 3 * i, 10 + 2 * i, 3) * 255).astype(np.uint8) for i in range(6)]


def _same(a, b):
    return len(a) == len(b) and np.allclose(a.boxes, b.boxes, atol=1e-4) \
        and np.allclose(a.scores, b.scores, atol=1e-6) and list(a.class_ids) == list(b.class_ids)


def _hammer(det, frames, expected):
    """8 threads, 30 calls each: single frames and batches of 2 to 4 (the context changes its
    input shape between calls). Returns (wrong results, errors)."""
    wrong, errors = [], []
    start = threading.Barrier(THREADS)

    def worker(k):
        start.wait()
        for i in range(CALLS):
            idx = [(k + i + j) % len(frames) for j in range(1 + (k + i) % 4)]
            try:
                got = det.detect_batch([frames[j] for j in idx]) if len(idx) > 1 \
                    else [det(frames[idx[0]])]
            except Exception as e:      # noqa: BLE001 - counted and reported by the caller
                errors.append(repr(e))
                continue
            wrong.extend((k, i, j) for j, g in zip(idx, got) if not _same(g, expected[j]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return wrong, errors


@pytest.mark.parametrize("version", ["8.4", "10.3"])    # binding indices / named tensors
def test_shared_detector_over_tensorrt_is_correct_and_serialised(tmp_path, monkeypatch, version):
    """Fake TensorRT (see the module docstring): the real-GPU run of this check is still due."""
    with _detector(tmp_path, monkeypatch, version) as det:
        assert isinstance(det.backend, TrtBackend)
        frames = _frames()
        expected = [det(f) for f in frames]
        assert len({len(d) for d in expected}) > 1          # the frames differ in what they hold
        ctx = det.backend.context
        before = len(ctx.executing_threads)
        wrong, errors = _hammer(det, frames, expected)
        assert not errors, errors[:3]
        assert not wrong, "%d wrong results, e.g. %s" % (len(wrong), wrong[:3])
        assert len(ctx.executing_threads) - before == THREADS * CALLS
        assert len(set(ctx.executing_threads[before:])) == THREADS   # every thread ran
        assert ctx.max_in_flight == 1 and ctx.reshaped_in_flight == 0


def test_the_fake_sees_a_context_used_by_two_threads_at_once(tmp_path, monkeypatch):
    """The check above can fail: with the Detector's lock taken away (the backend declared
    thread-safe, which TensorRT's execution context is not), the fake records executions
    overlapping on the one context. Fake TensorRT, not a GPU."""
    monkeypatch.setattr(TrtBackend, "thread_safe", True, raising=False)
    with _detector(tmp_path, monkeypatch, "10.3") as det:
        frames = _frames()
        expected = [det(f) for f in frames]
        wrong, errors = _hammer(det, frames, expected)
        ctx = det.backend.context
        assert ctx.max_in_flight > 1 or ctx.reshaped_in_flight > 0, (wrong[:3], errors[:3])


def test_close_while_other_threads_detect(tmp_path, monkeypatch):
    """Closing a shared Detector frees the engine's device memory only once no call is using
    it: the other threads get their detections or one clear error, never a call into freed
    memory (a crash on a real GPU). Fake TensorRT and fake CUDA memory, not a GPU."""
    det, gpu = _detector(tmp_path, monkeypatch, "10.3", with_gpu=True)
    frames = _frames()
    expected = [det(f) for f in frames]
    outcomes, started = [], threading.Barrier(THREADS + 1)

    def worker(k):
        started.wait()
        for i in range(200):
            j = (k + i) % len(frames)
            try:
                got = det(frames[j])
            except SsdEdgeError as e:
                outcomes.append("closed" if "closed" in str(e) else repr(e))
                return
            except Exception as e:      # noqa: BLE001 - anything else is the bug
                outcomes.append(repr(e))
                return
            outcomes.append("ok" if _same(got, expected[j]) else "wrong")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    started.wait()
    deadline = time.monotonic() + 60
    while outcomes.count("ok") < 20 and time.monotonic() < deadline:
        time.sleep(0.001)
    det.close()
    for t in threads:
        t.join(60)
    bad = [o for o in outcomes if o not in ("ok", "closed")]
    assert not bad, bad[:3]
    assert outcomes.count("closed") == THREADS
    assert det.backend is None and not gpu.device and not gpu.host    # all freed, once
