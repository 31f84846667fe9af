"""Messages stay one line even when a C library prints its own (FFmpeg, libjpeg, OpenCV,
OpenVINO), run as real processes so that what those libraries write on fd 2 is seen too."""
import os

import numpy as np
import pytest

from streamkit import run_cli

cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.slow      # each test runs the CLIs as processes


def _lines(proc):
    # The backend choice is an informational log line, not part of the error.
    return [ln for ln in proc.stderr.splitlines() if ln.strip() and ": backend " not in ln]


def test_broken_video_is_one_line_with_ffmpegs_reason(tmp_path, tiny_onnx):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8)))
    proc = run_cli("detect", bad, "--model", tiny_onnx, "--output-dir", tmp_path / "o")
    lines = _lines(proc)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "moov atom not found" in lines[0] or "cannot read video" in lines[0]


def test_corrupt_jpeg_is_one_line_with_libjpegs_reason(tmp_path, tiny_onnx):
    good = cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))[1].tobytes()
    bad = tmp_path / "a.jpg"
    bad.write_bytes(good[:20] + bytes(np.random.default_rng(1).integers(0, 256, 3000,
                                                                        dtype=np.uint8)))
    proc = run_cli("detect", bad, "--model", tiny_onnx, "--output-dir", tmp_path / "o")
    lines = _lines(proc)
    assert proc.returncode == 2 and len(lines) == 1 and "a.jpg" in lines[0], proc.stderr


def test_image_header_claiming_100000_squared_is_refused_undecoded(tmp_path, tiny_onnx):
    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2
    (tmp_path / "huge.png").write_bytes(head + b"\x08\x02\x00\x00\x00" + b"\x00" * 64)
    proc = run_cli("detect", tmp_path / "huge.png", "--model", tiny_onnx, "--output-dir",
                   tmp_path / "o")
    lines = _lines(proc)
    assert proc.returncode == 2 and len(lines) == 1 and "100000 x 100000" in lines[0], proc.stderr


def test_empty_and_text_inputs(tmp_path, tiny_onnx):
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a model\n")
    for args, want in [
            (("export", tmp_path / "empty.onnx"), "empty file"),
            (("export", tmp_path / "notes.txt"), "as a PyTorch checkpoint: expected a zip"),
            (("detect", tiny_onnx), "pass it with --model"),
            (("live", "--model", tmp_path / "empty.onnx", "--source", "x.mp4", "--headless"),
             "x.mp4")]:
        proc = run_cli(*args)
        lines = _lines(proc)
        assert proc.returncode == 2 and len(lines) == 1 and want in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "KeyError" not in proc.stderr


def test_python_warnings_are_one_line_in_cli_syntax(tmp_path):
    pytest.importorskip("torch")
    from ssd_edge.models import build_model, build_spec, save_checkpoint
    spec = build_spec("mb1-ssd-lite", ["BACKGROUND", "a", "b"])
    ckpt = tmp_path / "m.pth"
    save_checkpoint(build_model(spec), spec, str(ckpt))
    for extra in ("labels.txt", "m.pth.spec.json"):
        os.unlink(str(tmp_path / extra))
    proc = run_cli("export", "--inspect", ckpt, timeout=120)
    warn = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    assert proc.returncode == 0 and len(warn) == 1, proc.stderr
    assert warn[0].startswith("ssd-export: warning:") and "--labels" in warn[0]
    assert "UserWarning" not in proc.stderr and "warnings.warn" not in proc.stderr


def test_openvino_reason_is_the_real_line(tmp_path):
    ov = pytest.importorskip("openvino")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from ssd_edge.runtime.backends.openvino import openvino_reason
    node = helper.make_node("NoSuchOp", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3])], [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                         [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    with pytest.raises(RuntimeError) as err:
        ov.Core().read_model(path)
    reason = openvino_reason(err.value)
    assert "NoSuchOp" in reason and "Exception from" not in reason and "\n" not in reason


def test_wrong_type_outputs_are_one_line(tmp_path, tiny_onnx, video):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.mp4").mkdir()
    (tmp_path / "adir.jsonl").mkdir()
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((40, 40, 3), 100, np.uint8))
    for args, want in [
            (("detect", img, "--model", tiny_onnx, "--output-dir", tmp_path / "afile"),
             "a file is in the way"),
            (("live", "--model", tiny_onnx, "--source", video, "--headless", "--output",
              tmp_path / "adir.mp4"), "it is a folder"),
            (("live", "--model", tiny_onnx, "--source", video, "--headless", "--output",
              tmp_path / "adir.jsonl"), "it is a folder"),
            (("live", "--model", tiny_onnx, "--source", video, "--headless", "--output",
              str(tmp_path / "afile" / "%03d.jpg")), "a file is in the way"),
            (("export", tiny_onnx, "--output-dir", tmp_path / "afile", "--no-check"),
             "a file is in the way")]:
        proc = run_cli(*args)
        lines = _lines(proc)
        assert proc.returncode == 2 and len(lines) == 1 and want in lines[0], (args, proc.stderr)


def test_reader_leaving_the_pipe_is_not_a_traceback(tiny_onnx):
    import subprocess
    import sys
    from streamkit import ROOT
    proc = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(3); "
                             "from ssd_edge.cli.export import main; "
                             "sys.exit(main(['--inspect', %r, '--json']))" % tiny_onnx],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()                     # like `| head -0`: nobody reads stdout
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141 and "Traceback" not in err, err
