"""The zoo nets' output contract, prior derivation for other input sizes, and spec options."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ssd_edge import SsdEdgeError  # noqa: E402
from ssd_edge.boxes import center_to_corner, decode  # noqa: E402
from ssd_edge.models import ARCHS, build_model, build_spec, default_spec  # noqa: E402
from ssd_edge.models.specs import TABLE_SIZE  # noqa: E402


def run(model, size, seed=0, raw=False):
    """Forward a random (1, 3, size, size) input (``size`` may be an (H, W) pair); ``raw`` flips
    only the SSD module itself to training so it returns raw outputs while every BatchNorm keeps
    its running statistics."""
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
    model.training = raw
    try:
        with torch.no_grad():
            return [t.numpy() for t in model(x)]
    finally:
        model.training = False


@pytest.fixture(scope="module", params=ARCHS)
def net(request):
    spec = default_spec(request.param, 4)
    return spec, build_model(spec)


def test_eval_output_contract(net):
    spec, model = net
    scores, boxes = run(model, spec.input_size)
    P = spec.num_priors
    assert scores.shape == (1, P, 4) and boxes.shape == (1, P, 4)
    assert scores.dtype == np.float32 and boxes.dtype == np.float32
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert (scores >= 0).all()
    conf, loc = run(model, spec.input_size, raw=True)
    # Softmax of the raw confidences, boxes = decode(priors, raw locations) in corner form.
    e = np.exp(conf - conf.max(-1, keepdims=True))
    np.testing.assert_allclose(scores, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    expected = center_to_corner(decode(loc, spec.priors(), spec.center_variance,
                                       spec.size_variance))
    np.testing.assert_allclose(boxes, expected, rtol=1e-5, atol=1e-6)


def test_boxes_are_not_clamped():
    spec = default_spec("mb1-ssd", 2)
    model = build_model(spec)
    with torch.no_grad():
        for p in model.regression_headers.parameters():
            p.fill_(0.0)
        model.regression_headers[-1].bias.fill_(3.0)   # push the 1×1 map's boxes outwards
    _, boxes = run(model, TABLE_SIZE)
    assert boxes.min() < 0 or boxes.max() > 1


@pytest.mark.parametrize("arch", ARCHS)
def test_build_spec_at_300_is_the_pytorch_ssd_table(arch):
    assert build_spec(arch, 3) == default_spec(arch, 3)


def test_prior_counts_and_level_offsets_at_300():
    counts = {a: default_spec(a, 2).num_priors for a in ARCHS}
    assert counts["vgg16-ssd"] == 8732 and counts["sq-ssd-lite"] == 2568
    assert {counts[a] for a in ARCHS if a.startswith("mb")} == {3000}
    spec = default_spec("vgg16-ssd", 2)
    sizes = [lv.num_locations * lv.boxes_per_location for lv in spec.prior_levels]
    assert list(np.cumsum([0] + sizes[:-1])) == [0, 5776, 7942, 8542, 8692, 8728]


def test_other_resolution_follows_design_rule():
    # mb1 at 512: strides 16, 32 in the backbone, then four stride-2 extras.
    spec = build_spec("mb1-ssd", 3, resolution=512)
    table = default_spec("mb1-ssd", 3).prior_levels
    assert spec.input_size == (512, 512)
    assert [lv.feature_map_size for lv in spec.prior_levels] == [(n, n) for n in
                                                                 [32, 16, 8, 4, 2, 1]]
    assert [lv.shrinkage for lv in spec.prior_levels] == [(n, n) for n in
                                                          [16, 32, 64, 128, 256, 512]]
    for lv, ref in zip(spec.prior_levels, table):
        assert lv.min_size[0] == pytest.approx(ref.min_size[0] * 512 / 300)
        assert lv.max_size == pytest.approx(ref.max_size * 512 / 300)
        assert lv.aspect_ratios == ref.aspect_ratios
    vgg = build_spec("vgg16-ssd", 3, resolution=512)
    assert [lv.feature_map_size[0] for lv in vgg.prior_levels] == [64, 32, 16, 8, 6, 4]
    assert vgg.prior_levels[4].shrinkage[1] == pytest.approx(512 / 6)


@pytest.mark.parametrize("arch,size", [("vgg16-ssd", 320), ("mb1-ssd", 160), ("mb1-ssd-lite", 224),
                                       ("mb2-ssd-lite", 192), ("mb3-large-ssd-lite", 256),
                                       ("mb3-small-ssd-lite", 320), ("sq-ssd-lite", 224)])
def test_other_resolution_runs_with_matching_priors(arch, size):
    spec = build_spec(arch, 3, resolution=size)
    model = build_model(spec)
    scores, boxes = run(model, size)
    assert scores.shape == (1, spec.num_priors, 3) == (1, len(spec.priors()), 3)
    assert np.isfinite(boxes).all()


def test_resolution_an_arch_cannot_take_names_the_sizes_that_work():
    with pytest.raises(SsdEdgeError, match="at least 268 pixels") as e:
        build_spec("vgg16-ssd", 3, resolution=200)
    assert "\n" not in str(e.value)
    with pytest.raises(SsdEdgeError, match="at least 31 pixels"):
        build_spec("sq-ssd-lite", 3, resolution=16)
    for bad in (0, -5, 300.5):
        with pytest.raises(SsdEdgeError, match="positive int"):
            build_spec("mb1-ssd", 3, resolution=bad)
    with pytest.raises(SsdEdgeError, match="expected a square resolution for mb1-ssd"):
        build_spec("mb1-ssd", 3, resolution="320x240")
    with pytest.raises(SsdEdgeError, match="build_spec"):
        default_spec("mb1-ssd", 3, resolution=512)


def test_activation_and_width_are_recorded_and_used():
    relu6 = default_spec("mb2-ssd-lite", 3)
    assert relu6.activation == "relu6" and relu6.width_mult == 1.0
    relu = default_spec("mb2-ssd-lite", 3, activation="relu")
    model = build_model(relu)
    backbone = {type(m) for m in model.base_net.modules()}
    assert torch.nn.ReLU in backbone and torch.nn.ReLU6 not in backbone
    # Extras and heads use ReLU6 whatever the backbone does (pytorch-ssd).
    for part in (model.extras, model.classification_headers, model.regression_headers):
        acts = {type(m) for m in part.modules()} & {torch.nn.ReLU, torch.nn.ReLU6}
        assert acts == {torch.nn.ReLU6}
    assert default_spec("mb1-ssd", 3).activation is None
    with pytest.raises(SsdEdgeError, match="no activation for mb1-ssd"):
        default_spec("mb1-ssd", 3, activation="relu6")
    with pytest.raises(SsdEdgeError, match="relu6/relu"):
        default_spec("mb2-ssd-lite", 3, activation="gelu")
    with pytest.raises(SsdEdgeError, match="width_mult 1.0 for vgg16-ssd"):
        default_spec("vgg16-ssd", 3, width_mult=0.5)
    with pytest.raises(SsdEdgeError, match="unknown architecture 'mb9-ssd'"):
        default_spec("mb9-ssd", 3)


def test_labels_argument():
    assert default_spec("mb1-ssd", 3).labels == ("BACKGROUND", "class1", "class2")
    assert default_spec("mb1-ssd", ["BACKGROUND", "cat"]).labels == ("BACKGROUND", "cat")
    with pytest.raises(SsdEdgeError, match="BACKGROUND"):
        default_spec("mb1-ssd", ["cat", "dog"])


def test_spec_tables_import_without_torch():
    blocker = (
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'onnx', 'cv2', 'tensorrt'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, B())\n"
        "from ssd_edge.models.specs import default_spec, ARCHS\n"
        "from ssd_edge.models import default_spec as d2\n"
        "print(sum(default_spec(a, 2).num_priors for a in ARCHS))\n"
        "assert 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # vgg16-ssd, the five mobilenets, sq-ssd-lite, resnet50-ssd, the two UltraFace nets
    assert out.stdout.strip() == str(8732 + 5 * 3000 + 2568 + 8732 + 2 * 4420)
