"""TrtBackend against the fake ``tensorrt`` and fake CUDA device (tests/fakes): outputs equal
ONNX Runtime's on the named-tensor path (8.5+) and the binding path (8.4), stale/foreign engines
are refused, ONNX files are built on first use and cached."""
import json
import os
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from fakes import install_fakes  # noqa: E402
from fakes.fake_cuda import FakeGpu  # noqa: E402
from fakes.fake_tensorrt import call_names  # noqa: E402
from fakes.tiny_onnx import make_tiny_onnx, ort_run  # noqa: E402
from ssd_edge import postprocess  # noqa: E402
from ssd_edge.errors import SsdEdgeError  # noqa: E402
from ssd_edge.export.tensorrt import BuildOptions, build_engine  # noqa: E402
from ssd_edge.runtime.backends.trt import TrtBackend  # noqa: E402

VERSIONS = ["8.4", "8.5", "8.6", "10.3", "11"]


def _engine(tmp_path, monkeypatch, version, gpu=None, batch="batch", variant="plain",
            options=None, flavour="bindings"):
    trt, gpu = install_fakes(monkeypatch, version, gpu, flavour)
    onnx = make_tiny_onnx(tmp_path / "m.onnx", batch=batch, variant=variant)
    opts = options or (BuildOptions(max_batch=4) if batch == "batch" else BuildOptions())
    info = build_engine(onnx, str(tmp_path / "m.engine"), opts)
    return trt, gpu, onnx, info.engine_path


def _x(b, seed=0):
    return np.random.RandomState(seed).rand(b, 3, 8, 8).astype(np.float32) * 2 - 1


@pytest.mark.parametrize("version", VERSIONS)
def test_outputs_equal_onnxruntime_on_every_release(tmp_path, monkeypatch, version):
    trt, gpu, onnx, engine = _engine(tmp_path, monkeypatch, version)
    be = TrtBackend(engine)
    assert be.inputs == ["input_0"] and be.outputs == ["scores", "boxes"]
    assert be.max_batch == 4 and be.batch_size is None
    for b, seed in ((1, 0), (3, 1), (4, 2), (1, 3)):
        out = be({"input_0": _x(b, seed)})
        ref = ort_run(onnx, _x(b, seed))
        assert out.keys() == ref.keys()
        for k in ref:
            assert out[k].shape == ref[k].shape and out[k].dtype == np.float32
            np.testing.assert_allclose(out[k], ref[k], rtol=1e-6, atol=1e-7)
    names = call_names(trt)
    if version == "8.4":            # JetPack 5.0.2: the binding-index API only
        assert "IExecutionContext.execute_async_v2" in names
        assert "IExecutionContext.set_binding_shape" in names
        assert "IExecutionContext.execute_async_v3" not in names
    else:                           # named tensors, even where v2 still exists (8.5, 8.6)
        assert names.count("IExecutionContext.execute_async_v3") == 4
        assert "IExecutionContext.execute_async_v2" not in names
        assert "ICudaEngine.get_binding_index" not in names
        # Addresses are set once; shapes only when the batch changes (1 → 3 → 4 → 1).
        assert names.count("IExecutionContext.set_tensor_address") == 3
        assert names.count("IExecutionContext.set_input_shape") == 1 + 4
    be.close()
    assert not gpu.device and not gpu.host          # every device and pinned buffer freed
    be.close()                                      # idempotent


@pytest.mark.parametrize("flavour", ["bindings", "cudart", "pycuda"])
def test_each_device_memory_library(tmp_path, monkeypatch, flavour):
    trt, gpu, onnx, engine = _engine(tmp_path, monkeypatch, "10.3", flavour=flavour)
    be = TrtBackend(engine)
    assert type(be._cuda).__name__ == ("PycudaMemory" if flavour == "pycuda"
                                       else "CudaPythonMemory")
    out = be({"input_0": _x(2)})
    np.testing.assert_allclose(out["scores"], ort_run(onnx, _x(2))["scores"], rtol=1e-6)
    be.close()
    assert not gpu.device


def test_copies_and_execution_are_queued_on_one_stream_then_synchronized(tmp_path, monkeypatch):
    _, gpu, _, engine = _engine(tmp_path, monkeypatch, "8.6", batch=1)
    be = TrtBackend(engine)
    assert be.batch_size == 1
    del gpu.log[:]
    be({"input_0": _x(1)})
    assert gpu.log == [("enqueue", "htod"), ("enqueue", "execute"), ("enqueue", "dtoh"),
                       ("enqueue", "dtoh"), ("synchronize", 4)]
    assert len(gpu.streams) == 1


def test_static_engine_and_bad_feeds(tmp_path, monkeypatch):
    _, _, _, engine = _engine(tmp_path, monkeypatch, "10.3", batch=1)
    be = TrtBackend(engine)
    with pytest.raises(SsdEdgeError, match=r"expected input_0 of shape \(3, 8, 8\) \(batch 1..1\), "
                                           r"got \(2, 3, 8, 8\)"):
        be({"input_0": _x(2)})
    with pytest.raises(SsdEdgeError, match="expected an input named input_0"):
        be({"image": _x(1)})
    be.close()
    with pytest.raises(SsdEdgeError, match="closed"):
        be({"input_0": _x(1)})


def test_nms_engine_returns_the_four_fixed_shape_outputs(tmp_path, monkeypatch):
    _, _, onnx, engine = _engine(tmp_path, monkeypatch, "8.5", variant="nms")
    be = TrtBackend(engine)
    assert be.outputs == ["num_detections", "detection_boxes", "detection_scores",
                          "detection_classes"]
    x = _x(2, 5)
    out = be({"input_0": x})
    assert out["num_detections"].dtype == np.int32 and out["num_detections"].shape == (2, 1)
    assert out["detection_classes"].dtype == np.int32 and out["detection_boxes"].shape == (2, 10, 4)
    raw = ort_run(make_tiny_onnx(tmp_path / "raw.onnx", batch="batch"), x)
    for i in range(2):   # the fake's plugin is postprocess; this checks the data path around it
        ref = postprocess(raw["scores"][i], raw["boxes"][i], conf_threshold=0.3,
                          iou_threshold=0.45, candidate_size=4096, max_detections=10)
        n = int(out["num_detections"][i, 0])
        assert n == len(ref)
        np.testing.assert_allclose(np.sort(out["detection_scores"][i, :n]), np.sort(ref.scores))


# ---------------------------------------------------------------------------------- refusals
def test_engine_from_another_tensorrt_is_refused_with_the_rebuild_command(tmp_path, monkeypatch):
    _, _, _, engine = _engine(tmp_path, monkeypatch, "8.6")
    install_fakes(monkeypatch, "10.3")
    with pytest.raises(SsdEdgeError) as err:
        TrtBackend(engine)
    msg = str(err.value)
    assert "TensorRT version 8.6.2.3, this needs 10.3.0.26" in msg
    assert "rebuild it here with: ssd-export m.onnx --engine --dynamic-batch --max-batch 4" in msg


def test_engine_from_another_gpu_is_refused(tmp_path, monkeypatch):
    _, _, _, engine = _engine(tmp_path, monkeypatch, "10.3", gpu=FakeGpu(compute_capability=(8, 7)))
    install_fakes(monkeypatch, "10.3", FakeGpu(name="NVIDIA RTX A4000", compute_capability=(8, 6)))
    with pytest.raises(SsdEdgeError, match="compute capability 8.7, this needs 8.6"):
        TrtBackend(engine)


def test_engine_older_than_its_onnx_is_refused(tmp_path, monkeypatch):
    _, _, onnx, engine = _engine(tmp_path, monkeypatch, "10.3")
    make_tiny_onnx(onnx, batch="batch", seed=7)        # the ONNX changed after the build
    with pytest.raises(SsdEdgeError, match="ONNX sha256"):
        TrtBackend(engine)


def test_a_lying_sidecar_still_fails_cleanly_with_tensorrts_reason(tmp_path, monkeypatch):
    _, _, _, engine = _engine(tmp_path, monkeypatch, "8.5")
    install_fakes(monkeypatch, "8.6")
    side = json.load(open(engine + ".json"))
    side["tensorrt_version"] = "8.6.2.3"
    with open(engine + ".json", "w") as f:
        json.dump(side, f)
    with pytest.raises(SsdEdgeError) as err:
        TrtBackend(engine)
    assert "not compatible with this version of TensorRT" in str(err.value)
    assert "rebuild it here with" in str(err.value)


def test_engine_without_sidecar_is_refused(tmp_path, monkeypatch):
    _, _, _, engine = _engine(tmp_path, monkeypatch, "10.3")
    os.remove(engine + ".json")
    with pytest.raises(SsdEdgeError, match="expected the sidecar"):
        TrtBackend(engine)


# ---------------------------------------------------------------------------------- ONNX input
def test_onnx_is_built_on_first_use_and_cached(tmp_path, monkeypatch):
    trt, gpu = install_fakes(monkeypatch, "10.3")
    onnx = make_tiny_onnx(tmp_path / "m.onnx", batch="batch")
    be = TrtBackend(onnx)
    out = be({"input_0": _x(1)})
    np.testing.assert_allclose(out["boxes"], ort_run(onnx, _x(1))["boxes"], rtol=1e-6)
    be.close()
    (engine,) = [f for f in os.listdir(tmp_path / "trt_engines") if f.endswith(".engine")]
    assert engine.startswith("m.fp32.") and engine.endswith(".engine")
    assert call_names(trt).count("Builder.build_serialized_network") == 1
    TrtBackend(onnx).close()                               # cached: no second build
    assert call_names(trt).count("Builder.build_serialized_network") == 1
    TrtBackend(onnx, build_options=BuildOptions(max_batch=2)).close()   # other key: new engine
    assert len(os.listdir(tmp_path / "trt_engines")) == 4   # 2 engines + 2 sidecars
    install_fakes(monkeypatch, "11", gpu)                   # TensorRT upgraded: rebuilt
    TrtBackend(onnx).close()
    assert len(os.listdir(tmp_path / "trt_engines")) == 6


def test_onnx_cache_dir_and_dla_device(tmp_path, monkeypatch):
    gpu = FakeGpu()
    gpu.dla_cores = 2
    trt, _ = install_fakes(monkeypatch, "8.5", gpu)
    onnx = make_tiny_onnx(tmp_path / "m.onnx")
    cache = tmp_path / "cache"
    be = TrtBackend(onnx, device="dla:1", cache_dir=str(cache),
                    build_options=BuildOptions(precision="fp16"))
    assert be.sidecar["dla_core"] == 1
    assert ("Runtime.DLA_core=", (1,), {}) in trt.calls
    be.close()
    assert len(os.listdir(cache)) == 2 and not os.path.exists(tmp_path / "trt_engines")
    with pytest.raises(SsdEdgeError, match="expected device None, 'cuda', 'cuda:0' or 'dla:N'"):
        TrtBackend(onnx, device="cuda:1")


def test_accepts_a_runtime_artifact(tmp_path, monkeypatch):
    _, _, _, engine = _engine(tmp_path, monkeypatch, "10.3")
    shutil.copy(engine, str(tmp_path / "copy.engine"))
    shutil.copy(engine + ".json", str(tmp_path / "copy.engine.json"))

    class Artifact:      # what ssd_edge.runtime.artifact.open_artifact returns, duck-typed
        path = str(tmp_path / "copy.engine")

    be = TrtBackend(Artifact(), threads=4, device="cuda")
    assert be.precision == "fp32" and "TensorRT 10.3.0.26" in be.device
    be.close()
