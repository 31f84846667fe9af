"""A foreign ONNX (no ssd-edge metadata) described by labels and mean/std, or by a zoo net."""
import pytest

from ssd_edge import SsdEdgeError
from ssd_edge.models.foreign import foreign_spec
from ssd_edge.runtime.onnxinfo import OnnxInfo, TensorInfo

LABELS = ("BACKGROUND", "face")


def info(inp=(1, 3, 240, 320), scores=(1, 4420, 2), boxes=(1, 4420, 4), name="input",
         outputs=None):
    outs = outputs if outputs is not None else (TensorInfo("scores", "float32", scores),
                                                TensorInfo("boxes", "float32", boxes))
    return OnnxInfo({}, (TensorInfo(name, "float32", inp),), outs, frozenset(), 4)


def test_labels_and_normalisation_describe_a_decoded_model():
    spec = foreign_spec("uf.onnx", info(), LABELS, mean=(127,) * 3, std=(128,) * 3)
    assert spec.arch == "foreign" and spec.prior_levels == () and spec.num_priors == 0
    assert spec.input_size == (240, 320) and spec.labels == LABELS
    assert spec.mean == (127.0,) * 3 and spec.std == (128.0,) * 3
    assert spec.output_layout == "decoded"


def test_a_net_gives_its_priors_and_is_checked_against_the_graph():
    spec = foreign_spec("uf.onnx", info(), LABELS, net="ultraface-rfb")
    assert spec.arch == "ultraface-rfb" and spec.num_priors == 4420
    with pytest.raises(SsdEdgeError, match="outputs 4420 priors but ultraface-rfb at 640x480"):
        foreign_spec("uf.onnx", info(inp=(1, 3, 480, 640)), LABELS, net="ultraface-rfb")


@pytest.mark.parametrize("kwargs, needle", [
    (dict(labels=None, mean=(1, 1, 1), std=(1, 1, 1)), "pass --labels"),
    (dict(labels=LABELS), "expected --mean and --std"),
    (dict(labels=LABELS, mean=(1, 1, 1)), "got only one"),
    (dict(labels=("BACKGROUND", "a", "b"), mean=(1, 1, 1), std=(1, 1, 1)), "has 2 classes"),
])
def test_missing_or_wrong_description_is_one_line(kwargs, needle):
    with pytest.raises(SsdEdgeError) as e:
        foreign_spec("uf.onnx", info(), **kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("graph, needle", [
    (info(inp=(1, 3, "h", "w")), "fixed H and W"),
    (info(inp=(1, 1, 240, 320)), "[B, 3, H, W]"),
    (info(outputs=(TensorInfo("logits", "float32", (1, 10)),)), "output 'scores'"),
])
def test_graphs_that_do_not_fit_say_what_was_found(graph, needle):
    with pytest.raises(SsdEdgeError) as e:
        foreign_spec("x.onnx", graph, LABELS, mean=(1, 1, 1), std=(1, 1, 1))
    assert needle in str(e.value) and "got" in str(e.value)


def test_nms_outputs_need_no_scores():
    outs = tuple(TensorInfo(n, None, ()) for n in ("num_detections", "detection_boxes",
                                                   "detection_scores", "detection_classes"))
    spec = foreign_spec("n.onnx", info(outputs=outs), LABELS, mean=(0, 0, 0), std=(1, 1, 1))
    assert spec.output_layout == "nms"
