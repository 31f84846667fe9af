"""The repository ``ssd-export --triton`` writes, parsed with tritonclient's own model-config
protobuf types (``onnxruntime_onnx`` and ``tensorrt_plan`` cannot run on the PyPI server, so
their configs are checked against the ONNX they serve instead)."""
import json
import os
import subprocess
import sys


import pytest

from triton_testdata import BUNDLED, NAME

pb = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")
onnx = pytest.importorskip("onnx")

pytestmark = pytest.mark.slow       # exports the bundled model

DTYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.INT32: "TYPE_INT32",
          onnx.TensorProto.INT64: "TYPE_INT64", onnx.TensorProto.FLOAT16: "TYPE_FP16"}


def parse(path):
    with open(path, "r", encoding="utf-8") as f:
        return text_format.Parse(f.read(), pb.ModelConfig())


def params(config):
    return {k: v.string_value for k, v in config.parameters.items()}


def check_against_onnx(config, onnx_path, max_batch):
    model = onnx.load(onnx_path, load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    graph_in = [i for i in model.graph.input if i.name not in inits]
    for declared, actual in ((config.input, graph_in), (config.output, model.graph.output)):
        assert [t.name for t in declared] == [t.name for t in actual]
        for t, a in zip(declared, actual):
            dims = a.type.tensor_type.shape.dim
            assert dims[0].dim_param and not dims[0].dim_value     # symbolic batch axis
            assert list(t.dims) == [d.dim_value or -1 for d in dims[1:]]
            assert pb.DataType.Name(t.data_type) == DTYPES[a.type.tensor_type.elem_type]
    assert config.max_batch_size == max_batch


def test_onnxruntime_repository_matches_the_onnx(exported, tmp_path):
    from ssd_edge.cli.export import main
    repo = str(tmp_path / "repo")
    assert main([exported["onnx"], "--output-dir", str(tmp_path), "--triton", repo,
                 "--max-batch", "16", "--triton-device", "cpu", "-q", "--no-check"]) == 0
    name = "shapes-mb2-ssd-lite"
    assert sorted(os.listdir(repo)) == [name, name + "_pipeline", name + "_postprocess",
                                        name + "_preprocess"]
    net = parse(os.path.join(repo, name, "config.pbtxt"))
    assert net.platform == "onnxruntime_onnx" and net.name == name
    assert os.path.isfile(os.path.join(repo, name, "1", "model.onnx"))
    assert not os.path.exists(os.path.join(repo, name, "1", "model.py"))
    check_against_onnx(net, os.path.join(repo, name, "1", "model.onnx"), 16)
    # On CPU a lone request is not held back waiting for a batch; concurrent ones still merge.
    assert net.HasField("dynamic_batching")
    assert net.dynamic_batching.max_queue_delay_microseconds == 0
    assert [pb.ModelInstanceGroup.Kind.Name(g.kind) for g in net.instance_group] == ["KIND_CPU"]
    # Triton's onnxruntime backend gives every instance all the cores: one instance.
    assert [g.count for g in net.instance_group] == [1]
    from ssd_edge.runtime.artifact import open_artifact
    from ssd_edge.spec import DetectorSpec
    spec = open_artifact(exported["onnx"]).spec
    assert DetectorSpec.from_json(params(net)["ssd_edge.spec"]) == spec
    assert params(net)["ssd_edge.role"] == "network"


def test_pipeline_is_an_ensemble_of_models_in_the_repository(exported):
    repo = exported["repo"]
    pipe = parse(os.path.join(repo, NAME + "_pipeline", "config.pbtxt"))
    assert pipe.platform == "ensemble"
    frame = pipe.input[0]
    assert frame.name == "frame" and list(frame.dims) == [-1, -1, 3]
    assert pb.DataType.Name(frame.data_type) == "TYPE_UINT8"
    produced = {t.name for t in pipe.input}
    for step in pipe.ensemble_scheduling.step:
        model = parse(os.path.join(repo, step.model_name, "config.pbtxt"))
        # every step input is fed by the request or an earlier step, and names what it declares
        assert set(step.input_map.values()) <= produced
        assert set(step.input_map.keys()) == {t.name for t in model.input}
        assert set(step.output_map.keys()) == {t.name for t in model.output}
        assert pipe.max_batch_size <= model.max_batch_size
        produced |= set(step.output_map.values())
    assert {t.name for t in pipe.output} <= produced
    net = parse(os.path.join(repo, NAME, "config.pbtxt"))
    assert net.backend == "python"
    check_against_onnx(net, exported["onnx"], 8)
    # Two CPU instances, each giving ONNX Runtime half the cores (model.py reads the count).
    assert [(pb.ModelInstanceGroup.Kind.Name(g.kind), g.count) for g in net.instance_group] \
        == [("KIND_CPU", 2)]


def test_triton_instances_and_queue_delay_flags_are_set_and_checked(exported, tmp_path):
    from ssd_edge.cli.export import main
    repo = str(tmp_path / "repo")
    assert main([exported["onnx"], "--output-dir", str(tmp_path), "--triton", repo,
                 "--triton-backend", "python", "--triton-instances", "3",
                 "--triton-queue-delay", "500", "-q", "--no-check"]) == 0
    net = parse(os.path.join(repo, "shapes-mb2-ssd-lite", "config.pbtxt"))
    assert [g.count for g in net.instance_group] == [3]
    assert net.dynamic_batching.max_queue_delay_microseconds == 500
    r = subprocess.run([sys.executable, "-m", "ssd_edge.cli.export", exported["onnx"],
                        "--output-dir", str(tmp_path / "x"), "--triton", str(tmp_path / "r"),
                        "--triton-instances", "0", "-q"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 2 and "expected --triton-instances >= 1, got 0" in r.stderr
    assert not os.path.exists(str(tmp_path / "r"))
    r = subprocess.run([sys.executable, "-m", "ssd_edge.cli.export", exported["onnx"],
                        "--output-dir", str(tmp_path / "x"), "--triton", str(tmp_path / "r"),
                        "--triton-queue-delay", "-1", "-q"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 2 and "expected --triton-queue-delay >= 0 microseconds, got -1" \
        in r.stderr


def test_python_network_splits_the_cores_between_its_cpu_instances():
    import importlib.util
    import ssd_edge.serving
    path = os.path.join(os.path.dirname(ssd_edge.serving.__file__), "triton_models",
                        "network.py")
    loader = importlib.util.spec_from_file_location("triton_network_model", path)
    model = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(model)
    cores = len(os.sched_getaffinity(0))

    def share(groups):
        return model._cpu_share({"instance_group": groups})

    assert share([{"kind": "KIND_CPU", "count": 1}]) == cores
    assert share([{"kind": "KIND_CPU", "count": 2}]) == max(1, cores // 2)
    assert share([{"kind": "KIND_CPU", "count": 4 * cores}]) == 1
    assert share([{"kind": "KIND_GPU", "count": 2}, {"kind": "KIND_CPU", "count": 1}]) == cores


def test_tensorrt_plan_config_from_an_engine_and_its_sidecar(exported, tmp_path):
    # A stand-in plan file (TensorRT cannot build here) with the sidecar ssd-export writes.
    from ssd_edge.export.engine_sidecar import write_sidecar
    from ssd_edge.serving.triton_repo import TritonOptions, write_triton_repository
    from ssd_edge.runtime.artifact import open_artifact
    engine = str(tmp_path / "m.fp16.engine")
    with open(engine, "wb") as f:
        f.write(os.urandom(64))
    spec = open_artifact(exported["onnx"]).spec
    write_sidecar(engine, {"schema": 1, "spec": spec.to_dict(), "precision": "fp16",
                           "tensorrt_version": "10.3.0", "gpu_name": "Orin",
                           "compute_capability": "8.7", "batch": {"min": 1, "opt": 4, "max": 4}})
    repo = str(tmp_path / "repo")
    write_triton_repository(exported["onnx"], repo, TritonOptions(name="m", max_batch=8),
                            engine_path=engine)
    trt = parse(os.path.join(repo, "m_trt", "config.pbtxt"))
    assert trt.platform == "tensorrt_plan"
    check_against_onnx(trt, exported["onnx"], 4)        # capped by the engine's profile
    assert [pb.ModelInstanceGroup.Kind.Name(g.kind) for g in trt.instance_group] == ["KIND_GPU"]
    assert [g.count for g in trt.instance_group] == [1]
    assert trt.dynamic_batching.max_queue_delay_microseconds == 2000   # a GPU batch is cheap
    with open(os.path.join(repo, "m_trt", "1", "model.plan"), "rb") as f, open(engine, "rb") as g:
        assert f.read() == g.read()
    assert json.loads(params(trt)["ssd_edge.engine"])["precision"] == "fp16"


def test_non_ascii_labels_survive_the_config_text(exported, tmp_path):
    from ssd_edge.export.metadata import load_onnx, save_onnx, set_spec
    from ssd_edge.serving.triton_repo import TritonOptions, write_triton_repository
    from ssd_edge.runtime.artifact import open_artifact
    from ssd_edge.spec import DetectorSpec
    spec = open_artifact(exported["onnx"]).spec
    labels = ("BACKGROUND", "café", 'say "hi"', "back\\slash", "猫")[:spec.num_classes]
    spec = spec.replace(labels=labels)
    path = str(tmp_path / "m.onnx")
    save_onnx(set_spec(load_onnx(exported["onnx"]), spec), path)
    write_triton_repository(path, str(tmp_path / "r"), TritonOptions())
    for model in ("m", "m_pipeline", "m_preprocess", "m_postprocess"):
        got = parse(str(tmp_path / "r" / model / "config.pbtxt"))
        assert DetectorSpec.from_json(params(got)["ssd_edge.spec"]).labels == labels


def test_fixed_batch_onnx_is_refused_with_the_fix(tmp_path):
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, "-m", "ssd_edge.cli.export", BUNDLED, "--output-dir",
                        str(tmp_path), "--batch", "2", "--triton", str(tmp_path / "r"), "-q",
                        "--no-check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "symbolic batch axis" in r.stderr and "--dynamic-batch" in r.stderr
    assert not os.path.exists(str(tmp_path / "r" / "shapes-mb2-ssd-lite"))


def test_bad_triton_name_fails_before_anything_is_written(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ssd_edge.cli.export", BUNDLED, "--output-dir",
                        str(tmp_path), "--triton", str(tmp_path / "r"), "--triton-name", "a b"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 2 and "letters, digits, _ and -, got 'a b'" in r.stderr
    assert os.listdir(str(tmp_path)) == []


def test_triton_name_is_made_safe():
    from ssd_edge.serving.triton_repo import triton_name
    assert triton_name("mb1-ssd.fp16") == "mb1-ssd_fp16"
    assert triton_name("my model (v2)") == "my_model_v2"
    assert triton_name("...") == "model"
