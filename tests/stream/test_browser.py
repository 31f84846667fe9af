"""The served page in a real headless browser (Chromium; skipped where it is not installed)."""
import os
import subprocess

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed")


def chromium(*args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--window-size=800,600", "--virtual-time-budget=3000"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def test_page_screenshot_shows_the_stream(tmp_path, served):
    server, _ = served
    shot = tmp_path / "page.png"
    p = chromium("--screenshot=%s" % shot, server.url)
    assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (600, 800)
    # The <img> shows decoded MJPEG frames: a 4:3 picture 640 px wide (the page's CSS width)
    # where a broken stream would leave only a small icon and the alt text.
    body = img[62:575]
    picture = ~(np.abs(body.astype(int) - 17) < 6).all(axis=2)
    ys, xs = np.nonzero(picture)
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert 630 <= width <= 650 and 470 <= height <= 490, (width, height)
    assert picture[ys.min():ys.max() + 1, xs.min():xs.max() + 1].mean() > 0.95
    assert body[ys.min():ys.max() + 1, xs.min():xs.max() + 1].std() > 20   # not a flat box


def test_page_script_fills_in_stats_and_detections(served):
    server, _ = served
    p = chromium("--dump-dom", server.url)
    assert p.returncode == 0, p.stderr[-2000:]
    dom = p.stdout
    assert "waiting for /stats" not in dom             # the script replaced it
    assert "FPS" in dom and "ort fp32" in dom and "inference" in dom
    assert "person" in dom or "car" in dom              # the latest detections' labels
