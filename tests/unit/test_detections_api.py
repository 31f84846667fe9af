"""The Detections API robot programs use: iteration, filtering, box forms, dict and
supervision round trips, shape validation."""
import json

import numpy as np
import pytest

from ssd_edge import Detections


def sample(tracked=False):
    return Detections(np.array([[10, 20, 50, 80], [0, 0, 100, 50], [5, 5, 6, 7]], np.float32),
                      [0.9, 0.5, 0.3], [1, 2, 1], ["person", "car", "person"],
                      [4, 7, -1] if tracked else None)


def test_iterate_and_index():
    d = sample(tracked=True)
    rows = list(d)
    assert [r.label for r in rows] == ["person", "car", "person"]
    assert rows[0].box.tolist() == [10, 20, 50, 80] and rows[0].score == pytest.approx(0.9)
    assert [r.track_id for r in rows] == [4, 7, -1] and rows[1].class_id == 2
    assert d[-1].label == "person" and d[1].track_id == 7
    assert [r.track_id for r in sample()] == [None] * 3
    with pytest.raises(IndexError):
        d[3]


def test_mask_index_and_slice_filtering():
    d = sample(tracked=True)
    high = d[d.scores > 0.4]
    assert len(high) == 2 and high.labels == ["person", "car"] and high.track_ids.tolist() == [4, 7]
    people = d[np.array(d.labels) == "person"]
    assert people.class_ids.tolist() == [1, 1]
    assert d[[2, 0]].scores.tolist() == pytest.approx([0.3, 0.9])
    assert d[1:].labels == ["car", "person"] and len(d[:0]) == 0
    with pytest.raises(IndexError, match="mask of shape \\(3,\\)"):
        d[np.array([True, False])]


def test_box_forms_and_area():
    d = sample()
    assert d.xyxy is d.boxes
    assert d.xywh.tolist() == [[10, 20, 40, 60], [0, 0, 100, 50], [5, 5, 1, 2]]
    assert d.area.tolist() == [2400, 5000, 2]
    n = d.normalized((200, 100))
    assert n.dtype == np.float32 and n[1].tolist() == [0, 0, 0.5, 0.5]


def test_dict_round_trip_through_json():
    for tracked in (False, True):
        d = sample(tracked)
        back = Detections.from_dict(json.loads(json.dumps(d.to_dict())))
        assert back.labels == d.labels and back.class_ids.tolist() == d.class_ids.tolist()
        assert np.allclose(back.boxes, d.boxes) and np.allclose(back.scores, d.scores)
        assert (back.track_ids is None) == (not tracked)
        if tracked:
            assert back.track_ids.tolist() == [4, 7, -1]
    line = {"schema": 1, "index": 3, "detections": sample(True).to_list()}
    assert len(Detections.from_dict(line)) == 3
    assert len(Detections.from_dict({"detections": []})) == 0


def test_shape_validation():
    with pytest.raises(ValueError, match="track_ids of shape \\(3,\\)"):
        Detections(sample().boxes, [0.9, 0.5, 0.3], [1, 2, 1], track_ids=[1, 2])
    with pytest.raises(ValueError, match="same length"):
        Detections(sample().boxes, [0.9], [1, 2, 1])


def test_supervision_round_trip():
    sv = pytest.importorskip("supervision")
    d = sample(tracked=True)
    s = d.to_supervision()
    assert isinstance(s, sv.Detections) and len(s) == 3
    assert s.tracker_id.tolist() == [4, 7, -1] and s.class_id.tolist() == [1, 2, 1]
    assert list(s.data["class_name"]) == d.labels
    back = Detections.from_supervision(s)
    assert back.labels == d.labels and np.allclose(back.boxes, d.boxes)
    assert back.track_ids.tolist() == [4, 7, -1]
    named = Detections.from_supervision(sv.Detections(xyxy=d.boxes, class_id=np.array([1, 2, 1])),
                                        labels=["BACKGROUND", "person", "car"])
    assert named.labels == d.labels and named.scores.tolist() == [1, 1, 1]
    assert named.track_ids is None


def test_draw_returns_an_annotated_copy():
    cv2 = pytest.importorskip("cv2")
    frame = np.zeros((100, 120, 3), np.uint8)
    out = sample(tracked=True).draw(frame)
    assert out.shape == frame.shape and out.any() and not frame.any()
    assert cv2 is not None
