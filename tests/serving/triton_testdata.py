"""What the Triton tests share: the bundled model, the demo clip, the served model's name."""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED = os.path.join(ROOT, "ssd_edge", "assets", "shapes-mb2-ssd-lite.pth")
CLIP = os.path.join(ROOT, "ssd_edge", "assets", "demo.mp4")
NAME = "shapes"


def demo_frames(n):
    """The first ``n`` frames of the bundled demo clip (640x480 BGR uint8)."""
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(CLIP)
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == n, "the demo clip has fewer than %d frames" % n
    return frames
