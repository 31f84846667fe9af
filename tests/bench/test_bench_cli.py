"""ssd-bench, the result file, the Markdown/PNG writers, compare.py and the ratios."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ssd_edge.bench import stats
from ssd_edge.bench.ratios import compute_ratios, format_ratio
from ssd_edge.bench.report import BEGIN, END, replace_block
from ssd_edge.cli.bench import main
from ssd_edge.errors import SsdEdgeError

ROOT = pathlib.Path(__file__).resolve().parents[2]
STAGES = ("preprocess", "inference", "postprocess", "end_to_end")
QUICK = ["--iterations", "3", "--warmup", "1", "--no-progress", "--frame-size", "160x120",
         "--threads", "1"]


def png_ok(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000


@pytest.fixture(scope="module")
def bench_run(tiny_models, tiny_dataset, tmp_path_factory):
    """One ssd-bench run on the tiny .pth and .onnx: ORT, torch, the pytorch-ssd peer and
    TensorRT (absent here, or present: either way a row), batches 1 and 2, mAP on 4 images."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("benchout")
    # in folders that do not exist yet: ssd-bench creates them
    paths = {k: str(out / k / n) for k, n in (("json", "r.json"), ("md", "r.md"), ("png", "r.png"))}
    rc = main([tiny_models["pth"], tiny_models["onnx"], "--backend", "ort,torch,pytorch-ssd,trt",
               "--batch", "1,2", "--data", tiny_dataset, "--label", "box-a",
               "--json", paths["json"], "--markdown", paths["md"], "--plot", paths["png"]]
              + QUICK)
    assert rc == 0
    with open(paths["json"]) as f:
        paths["doc"] = json.load(f)
    return paths


def test_result_file_has_schema_environment_and_every_stage(bench_run, tiny_models):
    doc = bench_run["doc"]
    assert doc["schema"] == 2 and doc["kind"] == "ssd-edge.bench"
    env = doc["environment"]
    assert env["label"] == "box-a"
    assert env["cpu"]["model"] and env["cpu"]["logical_cores"] >= 1
    assert isinstance(env["cpu"]["isa"], list) and isinstance(env["cpu"]["int8_dot"], bool)
    assert set(env["libraries"]) >= {"numpy", "onnxruntime", "openvino", "opencv", "torch",
                                     "tensorrt", "cuda"}
    assert env["libraries"]["numpy"] == np.__version__
    assert set(env["jetson"]) >= {"jetson", "l4t", "jetpack", "nvpmodel", "jetson_clocks"}
    assert isinstance(env["temperatures_before"], dict)
    assert isinstance(env["temperatures_after"], dict)
    assert doc["settings"]["iterations"] == 3 and doc["settings"]["batches"] == [1, 2]

    ok = [r for r in doc["results"] if r["status"] == "ok"]
    # .pth: torch and the peer; .onnx: ort; each at batch 1 and 2.
    assert sorted((r["model"], r["backend"], r["batch"]) for r in ok) == sorted(
        (m, b, n) for m, b in (("tiny.pth", "torch"), ("tiny.pth", "pytorch-ssd"),
                               ("tiny.onnx", "ort")) for n in (1, 2))
    for r in ok:
        assert r["iterations"] == 3
        for stage in STAGES:
            s = r["latency_ms"][stage]
            assert s["n"] == 3 and s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
        e2e = r["latency_ms"]["end_to_end"]
        assert e2e["p50"] >= r["latency_ms"]["inference"]["p50"] > 0
        assert r["throughput_ips"] == pytest.approx(r["batch"] * 1000 / e2e["mean"], abs=0.006)
        assert r["peak_rss_mb"] > 10 and r["gpu_memory_mb"] is None
        size = os.path.getsize(tiny_models[r["model"].split(".")[1]]) / 1e6
        assert r["file_size_mb"] == pytest.approx(size, abs=1e-3)
        assert r["arch"] == "mb2-ssd-lite" and r["precision"] == "fp32"
        assert r["map"]["metric"] == "voc07" and 0.0 <= r["map"]["value"] <= 1.0
        assert r["map"]["images"] == 4 and r["map"]["conf_threshold"] == 0.01
    trt = [r for r in doc["results"] if r["backend"] == "trt"]
    if not any(r["status"] == "ok" for r in trt):
        # Asked for by name: a row for the .pth (wrong kind) and one for the .onnx (missing).
        assert {r["model"] for r in trt} == {"tiny.pth", "tiny.onnx"}
        assert all(r["status"] in ("skipped", "failed") and r["reason"] for r in trt)


def test_markdown_and_png_are_written(bench_run):
    text = open(bench_run["md"]).read()
    assert "| model | precision | backend | batch |" in text
    assert text.count("| mb2-ssd-lite (tiny) | fp32 |") == 6
    assert "**box-a**" in text
    if any(r["status"] != "ok" for r in bench_run["doc"]["results"]):
        assert "Not measured:" in text
    assert png_ok(bench_run["png"])


def test_peer_transform_and_loop_match_the_runtime(tiny_models):
    """The pytorch-ssd transcription preprocesses like the runtime and its per-class loop keeps
    exactly what ``ssd_edge.postprocess`` keeps (with no overall cap, as the Predictor)."""
    import torch
    from ssd_edge import postprocess
    from ssd_edge.bench.pytorch_ssd import PytorchSsdPredictor
    from ssd_edge.runtime import Preprocessor
    peer = PytorchSsdPredictor(tiny_models["pth"], device="cpu", conf_threshold=0.3)
    frame = np.random.default_rng(1).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(frame[..., ::-1])
    np.testing.assert_allclose(peer.transform(rgb).numpy(), Preprocessor(peer.spec)([frame])[0],
                               atol=1e-5)

    rng = np.random.default_rng(0)            # distinct scores: no ties for sorts to break
    p, c = len(peer.spec.priors()), peer.spec.num_classes
    logits = rng.normal(size=(1, p, c)) * 2
    scores = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    cxcy, wh = rng.uniform(0, 1, (1, p, 2)), rng.uniform(0.05, 0.5, (1, p, 2))
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], -1).astype(np.float32)

    class Outputs(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(scores), torch.from_numpy(boxes)

    peer.net = Outputs()
    got = peer(frame)
    want = postprocess(scores[0], boxes[0], frame_size=(200, 150), conf_threshold=0.3,
                       iou_threshold=0.45, candidate_size=200, top_k=-1, max_detections=-1)
    assert len(got) == len(want) > 10
    order = lambda d: np.lexsort((-d.scores, d.class_ids))  # noqa: E731 - per class, by score
    np.testing.assert_array_equal(got.class_ids[order(got)], want.class_ids[order(want)])
    np.testing.assert_allclose(got.scores[order(got)], want.scores[order(want)], rtol=1e-6)
    np.testing.assert_allclose(got.boxes[order(got)], want.boxes[order(want)], atol=1e-3)
    assert set(peer.last_timings) == {"preprocess", "inference", "postprocess"}


def test_every_written_field_is_documented_in_the_benchmarks_readme(bench_run):
    text = (ROOT / "benchmarks" / "README.md").read_text()
    section = text[text.index("## Result file"):]
    section = section[:section.index("\n## ", 5)]
    doc = bench_run["doc"]
    missing = ["`%s`" % k for k in doc if "`%s" % k not in section]
    missing += ["environment.%s" % k for k in doc["environment"]
                if "environment.%s" % k not in section]
    missing += ["settings `%s`" % k for k in doc["settings"] if "`%s`" % k not in section]
    rows = doc["results"]
    for key in sorted(set(k for r in rows for k in r)):
        if "`results[].%s" % key not in section and "`.%s`" % key not in section:
            missing.append("results[].%s" % key)
    stats_keys = set(next(r for r in rows if r["status"] == "ok")["latency_ms"]["inference"])
    missing += ["stat `%s`" % k for k in stats_keys if "`%s`" % k not in section]
    missing += ["ratio `%s`" % k for r in doc["ratios"] for k in r if "`%s`" % k not in section]
    assert not missing, "fields written but not described in benchmarks/README.md: %s" % missing


def test_compare_merges_devices_and_rewrites_only_the_readme_block(bench_run, tmp_path):
    doc = dict(bench_run["doc"])
    doc["environment"] = dict(doc["environment"], label="box-b")
    other = tmp_path / "b.json"
    other.write_text(json.dumps(doc))
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nintro\n\n%s\nold table\n%s\n\nafter\n" % (BEGIN, END))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare.py"),
                          bench_run["json"], str(other), "--markdown", str(tmp_path / "m.md"),
                          "--plot", str(tmp_path / "m.png"), "--update-readme", str(readme)],
                         capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    merged = (tmp_path / "m.md").read_text()
    assert merged.startswith("Latencies") and "| device | model |" in merged
    assert merged.count("| box-a | mb2-ssd-lite (tiny) |") == merged.count("| box-b | mb2-ssd-lite (tiny) |") == 6
    assert png_ok(tmp_path / "m.png")
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# Benchmarks\n\nintro\n\n" + BEGIN)
    assert text.endswith(END + "\n\nafter\n") and "| box-b | mb2-ssd-lite (tiny) |" in text


def test_compare_refuses_a_file_that_is_not_a_result(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"net": "mb1-ssd"}')
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare.py"), str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "expected an ssd-bench result file" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (["{onnx}", "--backend", "ort,tensorflow"], "unknown backend 'tensorflow'"),
    (["missing.onnx"], "not found"),
    (["model.txt"], "expected a model file ending in"),
    (["{onnx}", "--batch", "1,x"], "expected --batch as comma-separated positive integers"),
    (["{onnx}", "--batch", "0"], "expected --batch"),
    (["{onnx}", "--iterations", "0"], "expected --iterations >= 1"),
    (["{onnx}", "--frame-size", "640"], "expected --frame-size as WxH"),
    (["{onnx}", "--json", "/dev/null/dir/out.json"], "expected a folder for output"),
])
def test_bad_input_exits_2_with_one_line(args, needle, tiny_models, tmp_path):
    (tmp_path / "model.txt").write_text("x")
    argv = [a.format(onnx=tiny_models["onnx"]) for a in args]
    out = subprocess.run([sys.executable, "-m", "ssd_edge.cli.bench"] + argv,
                         capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssd-bench: error: ") and needle in lines[0]


def test_no_model_and_no_bundled_model_is_a_clear_error(monkeypatch, capsys):
    from ssd_edge.runtime import assets
    monkeypatch.setattr(assets, "bundled_model", lambda: None)
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no model given and no bundled model" in err[0]


def test_summary_keeps_percentiles_but_trims_outliers_from_the_mean():
    samples = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.3, 10.0, 250.0]
    s = stats.summarize(samples)
    assert s["outliers"] == 1 and s["n"] == 9 and s["max"] == 250.0
    assert s["mean"] == pytest.approx(np.mean(samples[:-1]), abs=1e-3)
    assert s["p99"] > 200 and s["p50"] == 10.0
    assert stats.summarize([5.0])["mean"] == 5.0
    with pytest.raises(ValueError):
        stats.summarize([])


def _row(arch, precision, backend, ips, infer, post=0.5, device="CPU", batch=1, mp=None):
    lat = {k: {"p50": v, "mean": v} for k, v in (("inference", infer), ("postprocess", post),
                                                 ("preprocess", 1.0), ("end_to_end", 1000 / ips))}
    return {"status": "ok", "arch": arch, "precision": precision, "backend": backend,
            "batch": batch, "device": device, "nms": "host", "nms_request": "auto",
            "model": "%s.%s.onnx" % (arch, precision), "throughput_ips": ips,
            "latency_ms": lat, "map": mp}


def test_ratios_take_the_best_cpu_backend_per_precision_and_name_the_target():
    rows = [_row("mb1-ssd", "fp32", "ort", 40.0, 20.0), _row("mb1-ssd", "fp32", "openvino", 50.0, 16.0),
            _row("mb1-ssd", "int8", "ort", 35.0, 22.0), _row("mb1-ssd", "int8", "openvino", 130.0, 5.0),
            _row("mb1-ssd", "fp32", "pytorch-ssd", 10.0, 60.0, device="cpu"),
            _row("mb1-ssd", "int8", "ort", 500.0, 1.0, batch=8)]          # other batch: ignored
    rows[0]["map"], rows[3]["map"] = ({"value": 0.70, "metric": "voc07"},
                                      {"value": 0.695, "metric": "voc07"})
    doc = {"results": rows, "environment": {"cpu": {"int8_dot": True}}}
    got = {r["name"]: r for r in compute_ratios(doc)}
    r = got["int8_vs_fp32"]
    assert r["value"] == pytest.approx(130 / 50) and r["target"] == 2.5 and r["met"] is True
    assert r["numerator"]["backend"] == "openvino" and r["inference_value"] == pytest.approx(16 / 5)
    assert got["ort_vs_pytorch_eager"]["value"] == pytest.approx(4.0)
    assert got["postprocess_share"]["value"] == pytest.approx(0.5 / 20)
    assert "map_drop_int8" not in got          # the fastest INT8 row (openvino) has an mAP ...
    rows[1]["map"] = {"value": 0.71, "metric": "voc07"}   # ... and now the fastest FP32 one too
    got = {r["name"]: r for r in compute_ratios(doc)}
    assert got["map_drop_int8"]["value"] == pytest.approx(1.5) and got["map_drop_int8"]["met"] is False
    doc["environment"]["cpu"]["int8_dot"] = False
    r = {r["name"]: r for r in compute_ratios(doc)}["int8_vs_fp32"]
    assert r["target"] == 1.5 and "target >= 1.5x: met" in format_ratio(r)


def test_readme_block_needs_both_markers():
    with pytest.raises(SsdEdgeError, match="expected the markers"):
        replace_block("no markers here", "x")
    assert replace_block("a%s\nold\n%sb" % (BEGIN, END), "new") == "a%s\nnew\n%sb" % (BEGIN, END)


def test_environment_reads_cpu_flags_and_temperatures_from_the_machine_files(tmp_path):
    from ssd_edge.bench.environment import cpu_info, temperatures
    from ssd_edge.doctor import Env
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(
        "processor : 0\nmodel name : Test CPU\nflags : fpu avx2 avx512f avx512_vnni\n"
        "core id : 0\n\nprocessor : 1\nmodel name : Test CPU\nflags : fpu avx2\ncore id : 1\n")
    zone = tmp_path / "sys" / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("45500\n")
    env = Env(root=str(tmp_path))
    cpu = cpu_info(env)
    assert cpu["model"] == "Test CPU" and cpu["physical_cores"] == 2
    assert cpu["isa"] == ["avx2", "avx512f", "avx512_vnni"] and cpu["int8_dot"] is True
    assert temperatures(env) == {"cpu-thermal": 45.5}


@pytest.mark.gpu
def test_gpu_run_records_cuda_memory_and_both_nms_placements(tiny_models, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    out = tmp_path / "gpu.json"
    assert main([tiny_models["pth"], "--backend", "torch,pytorch-ssd", "--device", "cuda",
                 "--host-nms", "--torch-precision", "fp16,fp32", "--batch", "1,4",
                 "--json", str(out)] + QUICK) == 0
    doc = json.loads(out.read_text())
    ok = [r for r in doc["results"] if r["status"] == "ok"]
    assert all(r["gpu_memory_mb"] > 0 and "cuda" in r["device"] for r in ok)
    torch_rows = {(r["precision"], r["nms"], r["batch"]) for r in ok if r["backend"] == "torch"}
    assert torch_rows == {(p, n, b) for p in ("fp16", "fp32") for n in ("device", "host")
                          for b in (1, 4)}
    assert {r["batch"] for r in ok if r["backend"] == "pytorch-ssd"} == {1, 4}


def test_ratios_never_mix_two_models_of_one_arch():
    from ssd_edge.bench.ratios import model_stem
    assert model_stem("shapes-mb2-ssd-lite.int8.onnx") == "shapes-mb2-ssd-lite"
    assert model_stem("/x/mb2-ssd-lite-random.fp16.nms-onnx.onnx") == "mb2-ssd-lite-random"
    assert model_stem("m.pth") == "m"


def test_table_labels_weights_and_the_precision_that_ran():
    """Random-weight and trained rows of one net read differently; an FP16 file computed in bf16
    says so; OpenCV's bare ``>`` marker lines never reach the page."""
    from ssd_edge.bench.report import model_label, not_run, precision_label
    doc = {"suite": {"models": [{"path": "mb2-ssd-lite-random.pth", "random_weights": True},
                                {"path": "shapes-mb2-ssd-lite.pth", "random_weights": False}]},
           "environment": {"label": "box"},
           "results": [{"model": "a.fp16.onnx", "backend": "opencv", "status": "failed",
                        "reason": "OpenCV DNN cannot load a.fp16.onnx: > ; use ort\n>"}]}
    rand = {"model": "mb2-ssd-lite-random.fp16.onnx", "arch": "mb2-ssd-lite", "precision": "bf16"}
    trained = {"model": "shapes-mb2-ssd-lite.int8.onnx", "arch": "mb2-ssd-lite", "precision": "int8"}
    assert model_label(doc, rand) == "mb2-ssd-lite, random weights"
    assert model_label(doc, trained) == "mb2-ssd-lite, trained (shapes-mb2-ssd-lite)"
    assert model_label({}, {"model": "mine.onnx", "arch": "mb1-ssd"}) == "mb1-ssd (mine)"
    assert precision_label(rand) == "fp16→bf16" and precision_label(trained) == "int8"
    assert precision_label({"model": "x.onnx", "precision": "fp32"}) == "fp32"
    line, = not_run([doc])
    assert ">" not in line and "cannot load a.fp16.onnx (no detail given); use ort" in line


def test_schema_1_files_do_not_claim_the_precision_that_ran(tmp_path):
    """A schema-1 result stored the file's precision: its OpenVINO FP16 / INT8 rows (which may
    compute in bf16) read "not recorded" in the generated table, never a plain fp16."""
    from ssd_edge.bench.report import UNRECORDED, load_result, precision_label, results_table
    ov16 = {"model": "m.fp16.onnx", "backend": "openvino", "precision": "fp16"}
    assert precision_label(ov16, 1) == "fp16 " + UNRECORDED
    assert precision_label(dict(ov16, backend="ort"), 1) == "fp16"
    assert precision_label(dict(ov16, model="m.onnx", precision="fp32"), 1) == "fp32"
    assert precision_label(ov16, 2) == "fp16"
    stored = str(ROOT / "benchmarks" / "results" / "cpu-intel-r-xeon-r-processor.json")
    if not os.path.exists(stored):
        pytest.skip("no stored schema-1 result file")
    table = results_table([load_result(stored)])
    rows = [r for r in table.splitlines() if "| openvino |" in r and "| fp32 |" not in r]
    assert rows and all(UNRECORDED in r for r in rows)
