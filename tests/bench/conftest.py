"""A tiny real zoo model for the benchmark tests, built once: mb2-ssd-lite (width 0.25, 96×96)
with the synthetic dataset's class names, as a checkpoint and its FP32 ONNX export. Read-only."""
import pytest

SHAPES = ["BACKGROUND", "circle", "square", "triangle", "star"]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("cv2")
    import torch
    from ssd_edge.export.options import ExportOptions
    from ssd_edge.export.pipeline import Source, run_export
    from ssd_edge.models import build_model, build_spec, save_checkpoint
    d = tmp_path_factory.mktemp("benchmodels")
    spec = build_spec("mb2-ssd-lite", SHAPES, resolution=96, width_mult=0.25)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    pth = str(d / "tiny.pth")
    save_checkpoint(model, spec, pth)
    run_export(Source(spec=spec, stem=str(d / "tiny"), model=model),
               ExportOptions(check=False, dynamic_batch=True), echo=lambda *_: None)
    return {"pth": pth, "onnx": str(d / "tiny.onnx"), "dir": str(d)}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Four synthetic VOC images (the model's class names) for the mAP path."""
    pytest.importorskip("cv2")
    from ssd_edge.data import generate_voc
    d = str(tmp_path_factory.mktemp("benchdata"))
    generate_voc(d, 4, seed=3, image_size=(128, 96), split="test")
    return d

