"""ssd-export on a real UltraFace checkpoint: the parity check runs on real photos with real
detections, FP16 agrees with FP32 there, and --inspect names the 4:3 input as W x H."""
import re

import pytest

from realdata import need_real

pytestmark = pytest.mark.slow
pytest.importorskip("torch")
pytest.importorskip("onnx")


def test_parity_on_real_faces_and_inspect(tmp_path, capsys):
    from ssd_edge.cli.export import main
    pth = need_real("models", "ultraface", "version-slim-320.pth")
    assert main([pth, "--labels", need_real("models", "ultraface", "labels.txt"),
                 "--output-dir", str(tmp_path), "--fp16",
                 "--check-images", need_real("photos", "faces")]) == 0
    out = capsys.readouterr().out
    rows = {m.group(1): (float(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"(\S+\.onnx) .* agreement ([\d.]+)% \((\d+) detections", out)}
    fp32 = rows[str(tmp_path / "version-slim-320.onnx")]
    fp16 = rows[str(tmp_path / "version-slim-320.fp16.onnx")]
    assert fp32 == (100.0, fp32[1]) and fp32[1] > 10        # real faces, not zero detections
    assert fp16[0] >= 99.0 and fp16[1] > 10
    assert main(["--inspect", str(tmp_path / "version-slim-320.onnx")]) == 0
    assert "ultraface-slim, 2 classes (face), input 320x240 (WxH)" in capsys.readouterr().out
