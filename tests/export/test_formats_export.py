"""docs/formats.md keeps honest lists of the export formats: the engine sidecar, the DetectorSpec
JSON and the ONNX metadata. The documented field paths must equal what the code writes, in both
directions, with the documented types."""
import dataclasses
import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from fakes import install_fakes  # noqa: E402
from fakes.fake_cuda import FakeGpu  # noqa: E402
from fakes.tiny_onnx import make_tiny_onnx, tiny_spec  # noqa: E402
from formatdoc import FORMATS as DOC, check_against, doc_table  # noqa: E402
from ssd_edge import DetectorSpec  # noqa: E402
from ssd_edge.export.engine_sidecar import SIDECAR_SCHEMA  # noqa: E402
from ssd_edge.export.metadata import SPEC_KEY  # noqa: E402
from ssd_edge.export.nms_graph import NMS_KEY  # noqa: E402
from ssd_edge.export.tensorrt import BuildOptions, build_engine  # noqa: E402
from ssd_edge.spec import SCHEMA_VERSION, NmsDefaults, PriorLevel  # noqa: E402

NOT_EXPANDED = {"spec"}          # the sidecar's spec is checked against its own table

#: Spec fields written only when they say something (older readers never see them otherwise).
SPEC_OPTIONAL = ("activation_assumed",)


@pytest.fixture
def sidecars(tmp_path, monkeypatch):
    """Sidecars covering every branch of each field: static/dynamic, GPU/DLA, NMS, calibrator."""
    gpu = FakeGpu(name="NVIDIA Jetson AGX Orin (fake)")
    gpu.dla_cores = 1
    install_fakes(monkeypatch, "10.3", gpu)
    out = []
    for name, variant, batch, opts in [
            ("dyn", "fp16", "batch", BuildOptions(precision="fp16", max_batch=4)),
            ("dla", "fp16", 1, BuildOptions(precision="fp16", dla_core=0)),
            ("nms", "nms", 1, BuildOptions()),
            ("cal", "plain", 2, BuildOptions(
                precision="int8", calibrator="minmax",
                calib_data=np.random.RandomState(0).rand(4, 3, 8, 8).astype(np.float32)))]:
        onnx_path = make_tiny_onnx(tmp_path / (name + ".onnx"), batch=batch, variant=variant)
        info = build_engine(onnx_path, str(tmp_path / (name + ".engine")), opts,
                            meminfo=str(tmp_path / "no-meminfo"))
        with open(info.sidecar_path) as f:
            out.append(json.load(f))
    return out


def test_sidecar_fields_equal_the_documented_ones(sidecars):
    table, seen = check_against("fields: engine-sidecar schema=%d" % SIDECAR_SCHEMA, sidecars,
                                skip=NOT_EXPANDED)
    # Each nullable field was seen both ways, so the doc's "|null" claims are exercised.
    for path in ("dla_core", "calibrator"):
        assert None in seen[path] and any(v is not None for v in seen[path]), path
    assert {s["nms"] for s in sidecars} == {"none", "trt"}
    for side in sidecars:
        check_against("fields: detector-spec schema=%d" % SCHEMA_VERSION, [side["spec"]],
                      optional=SPEC_OPTIONAL)


def test_spec_fields_equal_the_dataclasses():
    table = doc_table("fields: detector-spec schema=%d" % SCHEMA_VERSION)
    top = {p for p in table if "." not in p and "[]" not in p}
    assert top == {f.name for f in dataclasses.fields(DetectorSpec)}
    assert {p.split("[].")[1] for p in table if p.startswith("prior_levels[].")} == {
        f.name for f in dataclasses.fields(PriorLevel)}
    assert {p.split(".")[1] for p in table if p.startswith("nms.")} == {
        f.name for f in dataclasses.fields(NmsDefaults)}
    from ssd_edge.models.specs import default_spec
    mb2 = default_spec("mb2-ssd-lite", ["BACKGROUND", "a"])
    for spec in (tiny_spec(), mb2, mb2.replace(activation_assumed=True)):
        doc = json.loads(spec.to_json())
        assert ("activation_assumed" in doc) == spec.activation_assumed
        check_against("fields: detector-spec schema=%d" % SCHEMA_VERSION, [doc],
                      optional=() if spec.activation_assumed else SPEC_OPTIONAL)
        assert DetectorSpec.from_json(json.dumps(doc)) == spec


def test_onnx_metadata_keys_and_nms_parameters(tmp_path):
    import onnx
    from ssd_edge.export.nms_graph import add_onnx_nms, add_trt_nms
    text = open(DOC, encoding="utf-8").read()
    assert "| `%s` |" % SPEC_KEY in text and "| `%s` |" % NMS_KEY in text
    params = {}
    for variant in ("onnx", "trt"):
        model = onnx.load(make_tiny_onnx(tmp_path / (variant + ".onnx")))
        if variant == "onnx":
            add_onnx_nms(model, 64, 3, 0.3, 0.45, candidate_size=50, top_k=-1, max_detections=10)
        else:
            add_trt_nms(model, 0.3, 0.45, max_detections=10, class_agnostic=True)
        meta = {p.key: p.value for p in model.metadata_props}
        assert set(meta) == {SPEC_KEY, NMS_KEY}
        assert DetectorSpec.from_json(meta[SPEC_KEY]).output_layout == "nms"
        params[variant] = json.loads(meta[NMS_KEY])
    table, _ = check_against("keys: ssd_edge.nms", list(params.values()))
    for path, (_, meaning) in table.items():
        for variant, doc in params.items():
            other = "trt" if variant == "onnx" else "onnx"
            only_other = "`%s` only" % other in meaning
            assert (path in doc) == (not only_other), (variant, path)
