"""The bundled model and clip: `make demo`'s driver, the no-model defaults of the CLIs, FP16
checkpoint storage, the packaged assets.

A stand-in model (random mb2-ssd-lite at 96 px, see standin.py) and a short clip live in a temp
folder that SSD_EDGE_ASSETS points the lookup at; nothing is written into the package.
"""
import json
import logging
import os
import re
import shlex

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

from ssd_edge.runtime.assets import (ASSETS_ENV, BUNDLED_MODEL, bundled_model,  # noqa: E402
                                     demo_clip)

from .standin import LABELS, make_assets, use_assets                   # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_ASSETS = os.path.join(ROOT, "ssd_edge", "assets")
CLIP_FRAMES = 8


@pytest.fixture(autouse=True)
def restore_ssd_edge_logger():
    """ssd-live and ssd-detect, run in this process, give the ``ssd_edge`` logger a handler on
    the stderr of the moment (a capture that closes with the test): take it away again."""
    logger = logging.getLogger("ssd_edge")
    saved = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("assets")
    make_assets(folder, clip_frames=CLIP_FRAMES)
    return str(folder)


def frame_count(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def one_error_line(err, prog, fragment):
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(prog + ": error: ") and fragment in lines[-1], err
    assert "Traceback" not in err


@pytest.mark.slow
def test_demo_driver_exports_and_runs_the_clip(assets, tmp_path, monkeypatch, capsys):
    from ssd_edge.demo import main
    use_assets(monkeypatch, assets)
    out = tmp_path / "demo-output"
    assert main(["--output-dir", str(out), "--calib-images", "6"]) == 0
    stdout, stderr = capsys.readouterr()
    stem = str(out / "shapes-mb2-ssd-lite")
    for suffix in (".onnx", ".int8.onnx", ".int8.mp4", ".int8.jsonl"):
        assert os.path.getsize(stem + suffix) > 0, suffix
        assert stem + suffix in stdout                      # the closing list names them
    assert frame_count(stem + ".int8.mp4") == CLIP_FRAMES
    with open(stem + ".int8.jsonl") as f:
        lines = [json.loads(ln) for ln in f]
    assert [ln["index"] for ln in lines] == list(range(CLIP_FRAMES))
    assert all(ln["schema"] == 1 and ln["frame_size"] == [160, 120] for ln in lines)
    labels = {d["label"] for ln in lines for d in ln["detections"]}
    assert labels and labels <= set(LABELS[1:])
    assert "$ ssd-export " in stdout and "$ ssd-live " in stdout
    assert re.search(r"frames: %d in [\d.]+ s \([\d.]+ FPS\)" % CLIP_FRAMES, stderr)
    assert "precision: int8" in stderr and "inference" in stderr
    assert len(os.listdir(str(out / "calib-images" / "JPEGImages"))) == 6
    # A second run reuses the calibration images and overwrites the outputs.
    assert main(["--output-dir", str(out), "--calib-images", "6"]) == 0
    assert "reusing 6 images" in capsys.readouterr()[0]


@pytest.mark.slow
def test_commands_default_to_the_bundled_model(assets, tmp_path, monkeypatch, capsys):
    from ssd_edge.cli.detect import main as detect_main
    from ssd_edge.cli.export import main as export_main
    from ssd_edge.cli.live import main as live_main
    use_assets(monkeypatch, assets)
    assert bundled_model() == os.path.join(assets, BUNDLED_MODEL)
    monkeypatch.chdir(tmp_path)
    # ssd-export with no model writes into the current folder, never beside the package's file.
    assert export_main(["-q", "--no-check"]) == 0
    assert os.path.isfile(str(tmp_path / "shapes-mb2-ssd-lite.onnx"))
    assert sorted(os.listdir(assets)) == sorted(["demo.mp4", "demo.json", "labels.txt",
                                                 BUNDLED_MODEL, BUNDLED_MODEL + ".spec.json"])
    (tmp_path / "exp").mkdir()
    assert export_main(["-q", "--no-check", "--output-dir", str(tmp_path / "exp")]) == 0
    assert os.path.isfile(str(tmp_path / "exp" / "shapes-mb2-ssd-lite.onnx"))

    image = str(tmp_path / "frame.jpg")
    cap = cv2.VideoCapture(demo_clip())
    cv2.imwrite(image, cap.read()[1])
    cap.release()
    assert detect_main([image, "--output-dir", str(tmp_path / "det")]) == 0
    with open(str(tmp_path / "det" / "detections.json")) as f:
        assert json.load(f)["model"] == os.path.join(assets, BUNDLED_MODEL)

    jsonl = str(tmp_path / "live.jsonl")
    assert live_main(["--source", "demo://", "--headless", "--quiet", "--max-frames", "3",
                      "--output", jsonl]) == 0
    with open(jsonl) as f:
        assert len(f.readlines()) == 3
    capsys.readouterr()


@pytest.mark.parametrize("command", ["export", "live", "detect", "eval", "demo", "demo-clip"])
def test_missing_bundled_assets_are_one_line_errors(tmp_path, monkeypatch, capsys, command):
    use_assets(monkeypatch, tmp_path / "empty")
    image = str(tmp_path / "x.png")
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    if command == "export":
        from ssd_edge.cli.export import main
        fn, prog, args, fragment = main, "ssd-export", [], "bundled model"
    elif command == "live":
        from ssd_edge.cli.live import main
        fn, prog, args, fragment = main, "ssd-live", ["--source", image, "--headless"], \
            "bundled model"
    elif command == "detect":
        from ssd_edge.cli.detect import main
        fn, prog, args, fragment = main, "ssd-detect", [image, "--output-dir",
                                                         str(tmp_path / "o")], "bundled model"
    elif command == "eval":
        from ssd_edge.cli.eval import main
        from ssd_edge.data import generate_voc
        generate_voc(str(tmp_path / "ds"), 2, seed=1, image_size=(64, 48), split="test")
        fn, prog, args, fragment = main, "ssd-eval", ["--dataset", str(tmp_path / "ds"), "-q"], \
            "bundled model"
    elif command == "demo":
        from ssd_edge.demo import main
        fn, prog, args, fragment = main, "ssd_edge.demo", ["--output-dir", str(tmp_path / "d")], \
            "bundled model"
    else:
        from ssd_edge.cli.live import main
        fn, prog, args, fragment = main, "ssd-live", ["--source", "demo://", "--headless"], \
            "demo clip"
    assert fn(args) == 2
    one_error_line(capsys.readouterr()[1], prog, fragment)
    assert not os.path.exists(str(tmp_path / "d"))      # the demo fails before writing anything


def test_fp16_storage_loads_as_float32(tmp_path):
    import torch
    from ssd_edge.models import build_model, build_spec, load_checkpoint, save_checkpoint
    spec = build_spec("mb2-ssd-lite", LABELS, 96, "relu", 0.25)
    torch.manual_seed(3)
    model = build_model(spec)
    half, full = str(tmp_path / "half" / "m.pth"), str(tmp_path / "full" / "m.pth")
    os.makedirs(os.path.dirname(half))
    os.makedirs(os.path.dirname(full))
    save_checkpoint(model, spec, half, half=True)
    save_checkpoint(model, spec, full)
    stored = torch.load(half, weights_only=True)
    assert {v.dtype for v in stored.values()} == {torch.float16, torch.int64}
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    loaded, got = load_checkpoint(half)
    assert got.labels == LABELS and got.activation == "relu" and got.input_size == (96, 96)
    for key, value in loaded.state_dict().items():
        want = model.state_dict()[key]
        if want.is_floating_point():
            assert value.dtype == torch.float32
            assert torch.equal(value, want.half().float()), key
        else:
            assert torch.equal(value, want), key
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        a, b = loaded(x)[0], load_checkpoint(full)[0](x)[0]
    assert (a - b).abs().max() < 5e-2          # the same net, to FP16 rounding of its weights


def documented_clip_command():
    with open(os.path.join(ROOT, "docs", "evaluation.md"), encoding="utf-8") as f:
        m = re.search(r"^python -m ssd_edge\.data\.video (.*)$", f.read(), re.M)
    assert m, "docs/evaluation.md lacks the demo clip's command"
    return shlex.split(m.group(1))


def test_packaged_clip_is_small_and_plays_as_demo(monkeypatch):
    monkeypatch.delenv(ASSETS_ENV, raising=False)
    path = demo_clip()
    assert path == os.path.join(PACKAGE_ASSETS, "demo.mp4")
    assert os.path.getsize(path) <= 1.5e6
    cap = cv2.VideoCapture(path)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    args = documented_clip_command()
    assert args[args.index("--out") + 1] == "ssd_edge/assets/demo.mp4"
    frames = int(args[args.index("--frames") + 1])
    assert size == (640, 480) and fps == float(args[args.index("--fps") + 1])
    assert frame_count(path) == frames and 8 <= frames / fps <= 12


@pytest.mark.slow
def test_packaged_clip_is_what_the_documented_command_writes(tmp_path):
    from ssd_edge.data.video import main
    args = documented_clip_command()
    args[args.index("--out") + 1] = str(tmp_path / "demo.mp4")
    assert main(args) == 0
    with open(os.path.join(PACKAGE_ASSETS, "demo.json")) as f:
        packaged = json.load(f)
    with open(str(tmp_path / "demo.json")) as f:
        regenerated = json.load(f)
    assert packaged == regenerated
    assert frame_count(tmp_path / "demo.mp4") == len(packaged["frames"])


def test_model_card_describes_the_bundled_model():
    with open(os.path.join(PACKAGE_ASSETS, "MODEL_CARD.md"), encoding="utf-8") as f:
        card = f.read()
    for word in LABELS + ("mb2-ssd-lite", "ReLU", "300×300", "(x - 127) / 128", "VOC07"):
        assert word in card, word
    if os.path.isfile(os.path.join(PACKAGE_ASSETS, BUNDLED_MODEL)):
        assert "{{" not in card, "the model card still has placeholders"


def test_bundled_model_when_present(monkeypatch):
    import torch
    from ssd_edge.models import load_checkpoint
    monkeypatch.delenv(ASSETS_ENV, raising=False)
    path = bundled_model(checkpoint=True)
    if path is None:
        pytest.skip("no bundled model in this checkout (ssd_edge/assets/%s)" % BUNDLED_MODEL)
    assert os.path.getsize(path) <= 8 * 2 ** 20
    assert os.path.isfile(path + ".spec.json")
    stored = torch.load(path, weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    _, spec = load_checkpoint(path)
    assert spec.arch == "mb2-ssd-lite" and spec.activation == "relu"
    assert spec.input_size == (300, 300) and spec.labels == LABELS
