"""Pre-processing: the batched, vectorised path against a plain pytorch-ssd-style reference."""
import numpy as np
import pytest

from tinymodels import make_frames, tiny_spec
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.preprocess import Preprocessor, check_frame, resize_bilinear

cv2 = pytest.importorskip("cv2")


def reference(frame, spec):
    """pytorch-ssd's PredictionTransform, step by step, on one BGR frame."""
    img = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if spec.channel_order == "RGB" else frame
    h, w = spec.input_size
    img = cv2.resize(img, (w, h))
    img = img.astype(np.float32)
    img -= np.array(spec.mean, dtype=np.float32)
    img = img / np.array(spec.std, dtype=np.float32)
    return img.transpose(2, 0, 1)


@pytest.mark.parametrize("order", ["RGB", "BGR"])
@pytest.mark.parametrize("size", [(32, 32), (300, 300), (64, 64)])
def test_batch_matches_reference(order, size):
    spec = tiny_spec(channel_order=order, input_size=size)
    frames = make_frames(4)
    out = Preprocessor(spec)(frames)
    assert out.shape == (4, 3) + size and out.dtype == np.float32
    for i, f in enumerate(frames):
        np.testing.assert_allclose(out[i], reference(f, spec), rtol=0, atol=1e-5)


def test_channel_order_matters():
    frames = make_frames(1)
    rgb = Preprocessor(tiny_spec(channel_order="RGB"))(frames)
    bgr = Preprocessor(tiny_spec(channel_order="BGR"))(frames)
    assert np.abs(rgb - bgr).max() > 0.5


def test_out_buffer_and_same_size_frame():
    spec = tiny_spec()
    frame = make_frames(1, sizes=((32, 32),))[0]
    buf = np.full((3, 3, 32, 32), 7.0, np.float32)
    out = Preprocessor(spec)([frame], out=buf)
    assert out.base is buf or out is buf[:1] or np.shares_memory(out, buf)
    np.testing.assert_allclose(buf[0], reference(frame, spec), atol=1e-5)
    assert (buf[1:] == 7.0).all()


@pytest.mark.parametrize("src,dst", [((480, 640), (300, 300)), ((97, 151), (300, 300)),
                                     ((300, 300), (32, 32)), ((20, 30), (64, 48)),
                                     ((1, 5), (3, 3))])
def test_numpy_resize_within_one_grey_level_of_cv2(src, dst):
    frame = make_frames(1, sizes=(src,))[0]
    ours = resize_bilinear(frame, (dst[1], dst[0]))
    theirs = cv2.resize(frame, (dst[1], dst[0]), interpolation=cv2.INTER_LINEAR)
    assert ours.shape == theirs.shape and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


def test_numpy_resize_path_close_to_cv2_path():
    spec = tiny_spec(input_size=(300, 300))
    frames = make_frames(3)
    a = Preprocessor(spec, resize="numpy")(frames)
    b = Preprocessor(spec, resize="cv2")(frames)
    assert np.abs(a - b).max() <= 1.0 / min(spec.std) + 1e-6


@pytest.mark.parametrize("bad", [
    np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
    np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8), [[1, 2, 3]], None])
def test_bad_frame_is_one_line_error(bad):
    with pytest.raises(SsdEdgeError) as e:
        check_frame(bad)
    msg = str(e.value)
    assert "\n" not in msg and "HxWx3 uint8" in msg


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_table_path_is_bit_identical_to_the_arithmetic(order):
    """The OpenCV path normalises by table look-up; every value must equal pytorch-ssd's
    float32 (x - mean) / std exactly, for frames that need resizing, frames that do not, a
    non-contiguous frame and a caller's buffer."""
    spec = tiny_spec(channel_order=order, input_size=(48, 64))
    frames = make_frames(2) + [make_frames(1, sizes=((48, 64),))[0]]
    frames.append(np.ascontiguousarray(make_frames(1, sizes=((48, 128),))[0])[:, ::2])
    pre = Preprocessor(spec)
    buf = np.zeros((5, 3, 48, 64), np.float32)
    for out in (pre(frames), pre(frames, out=buf)):
        for i, f in enumerate(frames):
            np.testing.assert_array_equal(out[i], reference(f, spec))
    assert (buf[4] == 0).all()
    all_levels = np.tile(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), (3, 4, 3))
    np.testing.assert_array_equal(Preprocessor(tiny_spec(channel_order=order, input_size=(
        48, 64)))([all_levels])[0], reference(all_levels, spec))
