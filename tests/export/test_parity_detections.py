"""The export's parity check compares real detections: 32 inputs, at least 50 detections, on a
trained model (the bundled one, on generated shapes scenes) and on real photos where present."""
import os
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")

from ssd_edge.cli.export import main                                        # noqa: E402
from ssd_edge.runtime.assets import bundled_model                            # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL_PHOTOS = os.path.join(os.path.dirname(ROOT), "shared", "real", "photos", "jetson-inference")
LINE = re.compile(r"(fp32|fp16|int8)\s+none\s+.*agreement ([\d.]+)% \((\d+) detections at conf "
                  r"([\d.]+), (\d+) inputs\)")


def parity_rows(out):
    rows = {m.group(1): (float(m.group(2)), int(m.group(3)), float(m.group(4)), int(m.group(5)))
            for m in LINE.finditer(out)}
    assert "n/a" not in out, out
    return rows


@pytest.mark.slow
def test_bundled_model_parity_sees_detections(tmp_path, capsys):
    if bundled_model(checkpoint=True) is None:
        pytest.skip("no bundled model in this installation")
    assert main(["-q", "--fp16", "--output-dir", str(tmp_path)]) == 0
    rows = parity_rows(capsys.readouterr().out)
    assert set(rows) == {"fp32", "fp16"}, rows
    for prec, (agree, count, conf, inputs) in rows.items():
        assert inputs == 32 and count >= 50 and conf == 0.4, (prec, rows)
        assert agree >= 95.0, (prec, rows)


@pytest.mark.slow
def test_real_photos_as_check_inputs(tmp_path, capsys):
    if not os.path.isdir(REAL_PHOTOS):
        pytest.skip("real photos not present at %s (optional data beside the checkout)"
                    % REAL_PHOTOS)
    if bundled_model(checkpoint=True) is None:
        pytest.skip("no bundled model in this installation")
    assert main(["-q", "--int8", "--calib", REAL_PHOTOS, "--calib-count", "40",
                 "--output-dir", str(tmp_path)]) == 0
    rows = parity_rows(capsys.readouterr().out)
    assert set(rows) == {"fp32", "int8"}, rows
    for prec, (agree, count, conf, inputs) in rows.items():
        assert inputs == 32 and count >= 50, (prec, rows)
