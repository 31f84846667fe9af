"""Session fixtures: the tiny models of :mod:`tinymodels`, built once in a temp folder.

Tests never modify these files; a test that needs a variant copies one into its own tmp_path.
"""
import pytest

from tinymodels import build_tiny_module, export_onnx, make_frames, tiny_spec


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Paths of the shared tiny models: ``onnx`` (dynamic batch), ``fixed`` / ``fixed2`` (batch
    1 / 2), ``foreign`` (no metadata); plus ``spec`` and the torch ``module``. Read-only."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    d = tmp_path_factory.mktemp("tiny")
    spec = tiny_spec()
    module = build_tiny_module(spec)
    return {
        "spec": spec,
        "module": module,
        "onnx": export_onnx(module, spec, str(d / "tiny.onnx")),
        "fixed": export_onnx(module, spec, str(d / "tiny_b1.onnx"), dynamic=False),
        "fixed2": export_onnx(module, spec, str(d / "tiny_b2.onnx"), dynamic=False, batch=2),
        "foreign": export_onnx(module, spec, str(d / "foreign.onnx"), metadata=False),
    }


@pytest.fixture(scope="session")
def tiny_int8(tiny, tmp_path_factory):
    """The tiny model's INT8 file as ``ssd-export --int8`` writes it: the exporter's own QDQ pass
    (:func:`ssd_edge.export.int8.to_int8`), calibrated on test frames through the spec's
    pre-processing."""
    pytest.importorskip("onnxruntime")
    int8 = pytest.importorskip("ssd_edge.export.int8", reason="needs the export package")
    from ssd_edge.export.metadata import load_onnx, save_onnx
    from ssd_edge.preprocess import Preprocessor
    images = Preprocessor(tiny["spec"])(make_frames(8, seed=1))
    out = str(tmp_path_factory.mktemp("int8") / "tiny.int8.onnx")
    save_onnx(int8.to_int8(load_onnx(tiny["onnx"]), images, progress=False), out)
    return out


@pytest.fixture(scope="session")
def tiny_fp16(tiny, tmp_path_factory):
    """An FP16 copy of the tiny model, converted as ``ssd-export --fp16`` converts."""
    pytest.importorskip("onnxruntime")
    fp16 = pytest.importorskip("ssd_edge.export.fp16", reason="needs the export package")
    from ssd_edge.export.metadata import load_onnx, save_onnx
    out = str(tmp_path_factory.mktemp("fp16") / "tiny.fp16.onnx")
    save_onnx(fp16.to_fp16(load_onnx(tiny["onnx"])), out)
    return out


@pytest.fixture(scope="session")
def tiny_triton_url(tiny, tmp_path_factory):
    """``triton://`` URL of the tiny model on a real tritonserver (skips where it cannot run)."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "serving"))
    import tritonserver
    reason = tritonserver.serve_skip_reason()
    if reason:
        pytest.skip(reason)
    from ssd_edge.serving.triton_repo import TritonOptions, write_triton_repository
    d = tmp_path_factory.mktemp("triton")
    write_triton_repository(tiny["onnx"], str(d / "repo"), TritonOptions(backend="python"))
    with tritonserver.TritonServer(str(d / "repo"), tritonserver.ensure_env(),
                                   str(d / "server.log")) as server:
        yield "triton://127.0.0.1:%d/tiny" % server.grpc_port


@pytest.fixture(scope="session")
def frames():
    return make_frames(6)
