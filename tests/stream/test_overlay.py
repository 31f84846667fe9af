"""Overlay: detectnet-style flags, per-class colours, what gets drawn where."""
import numpy as np
import pytest

from ssd_edge import Detections
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import OverlayOptions, class_color, draw

pytest.importorskip("cv2")

DETS = Detections(np.array([[10, 20, 50, 60], [70, 5, 90, 30]], np.float32), [0.9, 0.55], [1, 2],
                  ["person", "car"])


def grey():
    return np.full((80, 120, 3), 128, np.uint8)


def test_parse_flags():
    o = OverlayOptions.parse("box,labels,conf")
    assert o.box and o.lines and o.labels and o.conf
    o = OverlayOptions.parse("lines")
    assert o.lines and not o.box and not o.labels
    o = OverlayOptions.parse("none", fps=True, alpha=0.5)
    assert not o.draws_anything
    for bad in ("boxes", "", "box,,fancy"):
        with pytest.raises(SsdEdgeError, match="--overlay"):
            OverlayOptions.parse(bad)
    with pytest.raises(SsdEdgeError, match="--alpha"):
        OverlayOptions(alpha=1.5)


def test_class_colours_are_stable_and_distinct():
    assert class_color(3) == class_color(3)
    colours = [class_color(i) for i in range(1, 21)]
    assert len(set(colours)) == 20
    for a, b in zip(colours, colours[1:]):
        assert sum(abs(x - y) for x, y in zip(a, b)) > 60   # neighbours are easy to tell apart


def test_draw_outline_fill_and_labels():
    img = grey()
    out = draw(img, DETS, OverlayOptions.parse("box,labels,conf"))
    assert np.array_equal(img, grey())                      # the input is not modified
    assert tuple(out[40, 10]) == class_color(1)              # outline on the box's left edge
    inside = out[45, 30].astype(int)                         # translucent fill inside
    expect = 0.25 * np.array(class_color(1)) + 0.75 * 128
    assert np.abs(inside - expect).max() <= 2
    assert (out[75:, :] == 128).all()                        # nothing below the boxes
    lines = draw(img, DETS, OverlayOptions.parse("lines"))
    assert tuple(lines[45, 30]) == (128, 128, 128)           # no fill with "lines"
    assert np.array_equal(draw(img, DETS, OverlayOptions.parse("none")), img)


def test_draw_fps_label_top_right():
    out = draw(grey(), Detections.empty(), OverlayOptions(), fps=29.97)
    changed = np.nonzero((out != 128).any(axis=2))
    assert changed[0].max() < 25 and changed[1].min() > 40   # a small label in the corner


def test_captions_at_the_frame_edges_never_cover_each_other():
    """Boxes touching the top edge (and the right one) with the FPS label in the corner."""
    from ssd_edge.runtime.stream.overlay import caption_rect
    frame, size, placed = (320, 240), (90, 18), []
    placed.append(caption_rect(320 - 70, 0, (70, 18), frame, placed, inside=True))   # FPS
    for x in (0, 10, 20, 250, 300, 310):
        placed.append(caption_rect(x, 0, size, frame, placed))
    for i, a in enumerate(placed):
        assert 0 <= a[0] and a[2] <= 320 and 0 <= a[1] and a[3] <= 240, a
        for b in placed[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    # with room above the box the caption sits above it, as before
    assert caption_rect(100, 100, size, frame, []) == (100, 82, 190, 100)
