"""The triton:// backend against a real tritonserver serving what ``ssd-export --triton`` wrote
(python backend: the only one the PyPI server carries), compared with the local Detector on the
bundled demo clip."""
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from triton_testdata import NAME, demo_frames
from ssd_edge import Detector, SsdEdgeError

pytestmark = pytest.mark.slow

N_FRAMES = 24


@pytest.fixture(scope="module")
def clip():
    return demo_frames(N_FRAMES)


@pytest.fixture(scope="module")
def reference(exported, clip):
    with Detector.load(exported["onnx"], backend="ort", device="cpu") as det:
        return [det(f) for f in clip]


def url(server, model, protocol="grpc"):
    port = server.grpc_port if protocol == "grpc" else server.http_port
    query = "" if protocol == "grpc" else "?protocol=http"
    return "triton://127.0.0.1:%d/%s%s" % (port, model, query)


def assert_same(got, want):
    assert sum(len(d) for d in want) > 0            # not vacuous: the clip has detections
    for g, w in zip(got, want):
        assert g.labels == w.labels
        np.testing.assert_array_equal(g.class_ids, w.class_ids)
        np.testing.assert_allclose(g.boxes, w.boxes, rtol=0, atol=1e-3)
        np.testing.assert_allclose(g.scores, w.scores, rtol=0, atol=1e-5)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("model", [NAME, NAME + "_pipeline"])
def test_served_detections_equal_the_local_detector(server, clip, reference, model, protocol):
    with Detector.load(url(server, model, protocol)) as det:
        assert det.backend_name == "triton"
        assert det.backend.owns_frame_path == model.endswith("_pipeline")
        assert det.spec.arch == "mb2-ssd-lite" and det.spec.labels[0] == "BACKGROUND"
        assert_same(det.detect_batch(clip), reference)
        assert_same([det(f) for f in clip[:4]], reference[:4])


@pytest.mark.parametrize("model", [NAME, NAME + "_pipeline"])
def test_class_filters_and_thresholds_travel_to_the_server(server, exported, clip, model):
    kw = dict(conf_threshold=0.3, iou_threshold=0.3, top_k=2, max_detections=5)
    labels = Detector.load(exported["onnx"], backend="ort").spec.labels
    keep = list(labels[1:3])
    with Detector.load(exported["onnx"], backend="ort", classes=keep,
                       class_thresholds={keep[0]: 0.6}, **kw) as local, \
            Detector.load(url(server, model), classes=keep,
                          class_thresholds={keep[0]: 0.6}, **kw) as served:
        want = local.detect_batch(clip)
        assert_same(served.detect_batch(clip), want)
        assert all(set(d.labels) <= set(keep) for d in want)


@pytest.fixture(scope="module")
def nms_served(tmp_path_factory):
    """The bundled model with NMS in the graph (``--nms onnx``), its repository served."""
    import os
    import tritonserver
    from ssd_edge.cli.export import main
    from triton_testdata import BUNDLED
    d = tmp_path_factory.mktemp("triton_nms")
    assert main([BUNDLED, "--output-dir", str(d), "--nms", "onnx", "--triton", str(d / "repo"),
                 "--triton-backend", "python", "--triton-name", "nm", "-q"]) == 0
    with tritonserver.TritonServer(str(d / "repo"), tritonserver.ensure_env(),
                                   str(d / "server.log")) as s:
        yield s, os.path.join(str(d), "shapes-mb2-ssd-lite.nms-onnx.onnx")


@pytest.mark.parametrize("model", ["nm", "nm_pipeline"])
def test_graph_with_nms_inside_serves_the_same_detections(nms_served, clip, model):
    server, onnx_path = nms_served
    with Detector.load(onnx_path, backend="ort") as local, \
            Detector.load(url(server, model), conf_threshold=0.3) as served:
        local.conf_threshold = 0.3
        assert served.graph_nms["iou_threshold"] == local.graph_nms["iou_threshold"]
        assert_same(served.detect_batch(clip), local.detect_batch(clip))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sixteen_threads_share_one_detector_and_the_server_batches(server, clip, reference,
                                                                   protocol):
    import tritonclient.grpc as grpcclient
    client = grpcclient.InferenceServerClient("127.0.0.1:%d" % server.grpc_port)

    def batches():
        stats = client.get_inference_statistics(NAME, as_json=True)["model_stats"][0]
        return {int(b["batch_size"]): int(b["compute_infer"]["count"])
                for b in stats.get("batch_stats", [])}

    before = batches()
    with Detector.load(url(server, NAME, protocol)) as det:
        results = [None] * len(clip)
        errors = []

        def work(k):
            try:
                for i in range(k, len(clip), 16):
                    results[i] = det(clip[i])
            except Exception as e:     # reported below, with the thread's error
                errors.append(e)

        for _ in range(3):             # several rounds, so requests overlap in the queue
            threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not errors, errors
        assert_same(results, reference)
    # Only these one-frame calls count: the threads' requests overlap (the Detector does not
    # serialise them), so the dynamic batcher merges some of them.
    after = batches()
    sizes = [b for b in after if after[b] > before.get(b, 0)]
    assert max(sizes) > 1, "the server never batched the threads' requests: %s" % sizes


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_shared_memory_inputs_give_the_same_detections(server, clip, reference, protocol):
    import glob
    import os
    import tritonclient.grpc as grpcclient
    client = grpcclient.InferenceServerClient("127.0.0.1:%d" % server.grpc_port)

    def regions():
        status = client.get_system_shared_memory_status(as_json=True).get("regions", {})
        return sorted(r for r in status if r.startswith("ssd_edge_client_%d_" % os.getpid()))

    sep = "&" if protocol == "http" else "?"
    for model in (NAME, NAME + "_pipeline"):
        with Detector.load(url(server, model, protocol) + sep + "shm=1") as det:
            assert det.backend.url.shm and len(regions()) == 1     # registered at load
            if model == NAME:       # sized for one frame's input: the first call reuses it
                status = client.get_system_shared_memory_status(as_json=True)["regions"]
                assert int(status[regions()[0]]["byte_size"]) >= 3 * 300 * 300 * 4
            assert_same(det.detect_batch(clip), reference)
            results = [None] * len(clip)

            def work(k):
                for i in range(k, len(clip), 8):
                    results[i] = det(clip[i])

            threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert_same(results, reference)
            assert 1 <= len(regions()) <= 8       # pooled: one per call in flight at most
        assert regions() == []                    # close() unregisters and removes them
        assert glob.glob("/dev/shm/ssd_edge_client_%d_*" % os.getpid()) == []


def test_server_down_is_one_line(tmp_path):
    import importlib.util
    import tritonserver
    port = tritonserver.free_ports(1)[0]
    expected = "expected a Triton server at 127.0.0.1:%d" % port
    if importlib.util.find_spec("tritonclient") is None:
        expected = r"ssd-edge\[triton\]"         # without the client: the extra to install
    for query in ("", "?protocol=http"):
        with pytest.raises(SsdEdgeError, match=expected):
            Detector.load("triton://127.0.0.1:%d/m%s" % (port, query))


def test_model_not_ready_missing_or_foreign_is_one_line(server):
    with pytest.raises(SsdEdgeError, match="'broken' to be ready.*state UNAVAILABLE"):
        Detector.load(url(server, "broken"))
    with pytest.raises(SsdEdgeError, match="no such model .*%s_pipeline" % NAME):
        Detector.load(url(server, "absent", "http"))
    with pytest.raises(SsdEdgeError, match="ssd-edge export .*ssd-export MODEL --triton DIR"):
        Detector.load(url(server, "plain"))


def test_ssd_detect_cli_runs_on_a_served_model(server, clip, reference, tmp_path):
    cv2 = pytest.importorskip("cv2")
    image = str(tmp_path / "frame.png")
    cv2.imwrite(image, clip[0])
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "ssd_edge.cli.detect", image, "--model",
                        url(server, NAME + "_pipeline"), "--output-dir", str(out), "--json",
                        "dets.json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "dets.json").read_text())
    assert doc["backend"] == "triton" and doc["model"].startswith("triton://")
    assert len(doc["inputs"][0]["frames"][0]["detections"]) == len(reference[0])
    bad = subprocess.run([sys.executable, "-m", "ssd_edge.cli.detect", image, "--model",
                          url(server, "plain")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_ssd_live_streams_the_demo_clip_through_the_server(server, reference, tmp_path):
    from triton_testdata import CLIP
    out = tmp_path / "dets.jsonl"
    r = subprocess.run([sys.executable, "-m", "ssd_edge.cli.live", "--model",
                        url(server, NAME, "http"), "--source", CLIP, "--headless",
                        "--max-frames", "8", "--output", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    assert len(lines) == 8
    counts = [len(x.get("detections", [])) for x in lines]
    assert counts == [len(d) for d in reference[:8]] and sum(counts) > 0
