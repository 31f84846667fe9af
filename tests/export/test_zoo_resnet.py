"""resnet50-ssd: structure, documented keys, torchvision base-net import, checkpoints, ONNX.

torchvision is not needed: a torchvision-layout ResNet-50 state_dict is assembled from our own
bottleneck blocks (whose attribute names are torchvision's) plus hand-made ``layer4`` and ``fc``
tensors, and checked against torchvision's published counts (320 tensors, 25,557,032
parameters).
"""
import itertools
import os
import pathlib
import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from ssd_edge import SsdEdgeError  # noqa: E402
from ssd_edge.models import (build_model, build_spec, default_spec, detect_arch,  # noqa: E402
                             load_checkpoint, save_checkpoint)
from ssd_edge.models.checkpoint import load_base_net  # noqa: E402
from ssd_edge.models.detect import num_classes_of  # noqa: E402
from ssd_edge.models.resnet import Bottleneck, resnet50_base  # noqa: E402
from ssd_edge.models.specs import ARCHS, OWN_ARCHS, PYTORCH_SSD_ARCHS  # noqa: E402

ARCH = "resnet50-ssd"
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "models.md"
LABELS = ["BACKGROUND", "circle", "square", "star"]


def torchvision_resnet50_state(seed=0, with_counters=True):
    """A torchvision-layout ResNet-50 state_dict (all 320 keys) with random values."""
    layer4 = nn.Sequential(Bottleneck(1024, 512, 2), Bottleneck(2048, 512), Bottleneck(2048, 512))
    state = dict(resnet50_base().state_dict())
    state.update(("layer4." + k, v) for k, v in layer4.state_dict().items())
    state["fc.weight"] = torch.zeros(1000, 2048)
    state["fc.bias"] = torch.zeros(1000)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            if with_counters:
                out[k] = torch.tensor(7, dtype=torch.long)
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            out[k] = (torch.rand(v.shape, generator=g) - 0.5) * 0.1
    return out


class _MakesADirectory(object):
    """A pickle payload that runs code (os.mkdir) when unpickled without weights_only."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def saved(tmp_path, obj, name="resnet50.pth"):
    path = str(tmp_path / name)
    torch.save(obj, path)
    return path


def refused(net, path, match):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(SsdEdgeError, match=match) as e:
        load_base_net(net, path)
    assert "\n" not in str(e.value)
    for k, v in net.state_dict().items():  # a refused file changes nothing
        assert torch.equal(v, before[k]), k
    return str(e.value)


# -- structure ------------------------------------------------------------------------------

def test_registered_as_our_own_net_after_pytorch_ssds():
    assert ARCH in ARCHS and OWN_ARCHS == (ARCH,)
    assert ARCH not in PYTORCH_SSD_ARCHS and len(PYTORCH_SSD_ARCHS) == 7


def test_spec_at_300_is_8732_priors_with_imagenet_normalisation():
    spec = default_spec(ARCH, 4)
    assert spec.num_priors == 8732 == len(spec.priors())
    assert [lv.feature_map_size[0] for lv in spec.prior_levels] == [38, 19, 10, 5, 3, 1]
    assert [lv.boxes_per_location for lv in spec.prior_levels] == [4, 6, 6, 6, 4, 4]
    assert [lv.min_size[0] for lv in spec.prior_levels] == [21, 45, 99, 153, 207, 261]
    assert spec.prior_levels[-1].max_size == 315
    np.testing.assert_allclose(spec.mean, np.array([0.485, 0.456, 0.406]) * 255)
    np.testing.assert_allclose(spec.std, np.array([0.229, 0.224, 0.225]) * 255)
    assert spec.activation is None and spec.width_mult == 1.0
    # The net's measured maps agree with the table (build_spec asserts it) …
    assert build_spec(ARCH, 4) == spec
    # … and other sizes follow the design rule.
    big = build_spec(ARCH, 4, resolution=512)
    assert [lv.feature_map_size[0] for lv in big.prior_levels] == [64, 32, 16, 8, 6, 4]
    with pytest.raises(SsdEdgeError, match="at least 257 pixels"):
        build_spec(ARCH, 4, resolution=256)


def test_backbone_is_resnet50_to_layer3_with_a_stride_1_layer3():
    model = build_model(default_spec(ARCH, 4))
    base = model.base_net
    assert list(base._modules) == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                   "layer3"]
    assert [len(base.layer1), len(base.layer2), len(base.layer3)] == [3, 4, 6]
    # torchvision's ResNet-50 minus layer4 (14,964,736) and fc (2,049,000).
    assert sum(p.numel() for p in base.parameters()) == 25557032 - 14964736 - 2049000
    first = base.layer3[0]
    assert first.conv1.stride == first.conv2.stride == first.downsample[0].stride == (1, 1)
    assert base.layer2[0].conv2.stride == (2, 2) and base.layer2[0].conv1.stride == (1, 1)
    assert model.anchors_per_map() == [4, 6, 6, 6, 4, 4]
    assert [h.in_channels for h in model.regression_headers] == [1024, 512, 512, 256, 256, 256]
    sizes = build_model(default_spec(ARCH, 4)).to("meta").feature_map_sizes(300)
    assert sizes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]


@pytest.mark.slow
def test_forward_at_300_gives_the_output_contract():
    spec = default_spec(ARCH, 4)
    model = build_model(spec)
    x = torch.randn(2, 3, 300, 300, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scores, boxes = model(x)
        model.train()
        conf, loc = model(x)
    assert scores.shape == (2, 8732, 4) and boxes.shape == (2, 8732, 4)
    assert conf.shape == (2, 8732, 4) and loc.shape == (2, 8732, 4)
    np.testing.assert_allclose(scores.sum(-1).numpy(), 1.0, atol=1e-5)


# -- documented keys ------------------------------------------------------------------------

def expand(pattern):
    """Brace expansion: ``{a,b}`` alternatives and ``{0..5}`` ranges, left to right."""
    parts = re.split(r"(\{[^}]*\})", pattern)
    choices = []
    for p in parts:
        if p.startswith("{"):
            body = p[1:-1]
            ends = re.fullmatch(r"(\d+)\.\.(\d+)", body)
            choices.append([str(i) for i in range(int(ends.group(1)), int(ends.group(2)) + 1)]
                           if ends else body.split(","))
        else:
            choices.append([p])
    return ["".join(c) for c in itertools.product(*choices)]


def documented_keys():
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- keys: resnet50-ssd -->", 1)[1].split("```text\n", 1)[1]
    block = block.split("```", 1)[0]
    bn = "{weight,bias,running_mean,running_var,num_batches_tracked}"
    keys = []
    for line in block.splitlines():
        if line.strip():
            keys += expand(re.sub(r"\.BN$", "." + bn, line.split()[0]))
    return keys


def test_key_layout_matches_the_docs():
    got = list(build_model(default_spec(ARCH, 21)).state_dict())
    want = documented_keys()
    assert len(want) == len(set(want)) == 342
    assert sorted(got) == sorted(want)
    # Registration order: backbone, extras, classification heads, regression heads.
    groups = [k.split(".")[0] for k in got]
    assert groups == sorted(groups, key=["base_net", "extras", "classification_headers",
                                         "regression_headers"].index)


# -- torchvision base net -------------------------------------------------------------------

def test_synthetic_torchvision_file_has_torchvisions_counts():
    state = torchvision_resnet50_state()
    assert len(state) == 320
    assert sum(v.numel() for k, v in state.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) \
        == 25557032


@pytest.mark.parametrize("form", ["plain", "no-counters", "wrapped", "module."])
def test_torchvision_state_dict_loads_into_the_backbone_only(tmp_path, form):
    state = torchvision_resnet50_state(seed=3, with_counters=(form != "no-counters"))
    obj = state
    if form == "wrapped":
        obj = {"state_dict": state, "epoch": 90}
    elif form == "module.":
        obj = {"module." + k: v for k, v in state.items()}
    path = saved(tmp_path, obj)
    model = build_model(default_spec(ARCH, 4))
    rest = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("base_net")}
    n = load_base_net(model, path)
    assert n == (258 if form != "no-counters" else 258 - 43)   # 43 BatchNorms in base_net
    got = model.state_dict()
    for k, v in state.items():
        if not k.startswith(("fc.", "layer4.")):
            assert torch.equal(got["base_net." + k], v), k
    for k, v in rest.items():
        assert torch.equal(got[k], v), k


@pytest.mark.slow
def test_loaded_backbone_changes_the_outputs(tmp_path):
    model = build_model(default_spec(ARCH, 4))
    x = torch.randn(1, 3, 300, 300, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = model(x)[0].clone()
        load_base_net(model, saved(tmp_path, torchvision_resnet50_state(seed=5)))
        after = model(x)[0]
    assert torch.isfinite(after).all()
    assert (before - after).abs().max() > 1e-3


def test_bad_base_net_files_are_refused_in_one_line(tmp_path):
    model = build_model(default_spec(ARCH, 4))
    full = torchvision_resnet50_state()
    refused(model, str(tmp_path / "nope.pth"), "base-net file .* not found")
    # ResNet-18/34 (BasicBlock: no conv3/bn3): keys missing.
    basic = {k: v for k, v in full.items() if ".conv3." not in k and ".bn3." not in k}
    msg = refused(model, saved(tmp_path, basic, "r18.pth"),
                  "expected a torchvision-layout ResNet-50 state_dict")
    assert "keys missing (first 'layer1.0.conv3.weight')" in msg
    # ResNet-101: layer3 has 23 blocks.
    deeper = dict(full)
    deeper.update(("layer3.6." + k.split(".", 2)[2], v) for k, v in full.items()
                  if k.startswith("layer3.5."))
    assert "unexpected (first 'layer3.6.conv1.weight')" in refused(
        model, saved(tmp_path, deeper, "r101.pth"), "does not fit resnet50-ssd")
    # Wide ResNet-50-2: the shapes differ.
    wide = dict(full)
    wide["layer1.0.conv1.weight"] = torch.zeros(128, 64, 1, 1)
    assert "expected layer1.0.conv1.weight of shape (64, 64, 1, 1), got (128, 64, 1, 1)" in \
        refused(model, saved(tmp_path, wide, "wide.pth"), "does not fit")
    # A whole SSD checkpoint is not a base net (that is --pretrained-ssd).
    refused(model, saved(tmp_path, model.state_dict(), "ssd.pth"), "unexpected .*'base_net.")
    # Code inside the pickle is refused before it runs.
    marker = str(tmp_path / "code-ran")
    evil = saved(tmp_path, dict(full, extra=_MakesADirectory(marker)), "evil.pth")
    assert "mkdir" in refused(model, evil, "refused to load")
    assert not os.path.exists(marker)


# -- pytorch-ssd base nets ------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["vgg16-ssd", "mb1-ssd", "mb2-ssd-lite"])
def test_pytorch_ssd_base_net_files_load(tmp_path, arch):
    """pytorch-ssd's base-net files hold base_net's keys without the prefix."""
    donor = build_model(default_spec(arch, 21)).base_net
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for t in donor.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g))
    path = saved(tmp_path, donor.state_dict(), "%s-base.pth" % arch)
    model = build_model(default_spec(arch, 4))
    heads = [p.clone() for p in model.regression_headers.parameters()]
    assert load_base_net(model, path) == len(donor.state_dict())
    for k, v in donor.state_dict().items():
        assert torch.equal(model.base_net.state_dict()[k], v), k
    assert all(torch.equal(a, b) for a, b in zip(heads, model.regression_headers.parameters()))


def test_base_net_of_another_net_is_refused(tmp_path):
    path = saved(tmp_path, build_model(default_spec("mb1-ssd", 3)).base_net.state_dict())
    msg = refused(build_model(default_spec("mb2-ssd-lite", 3)), path,
                  "does not fit mb2-ssd-lite: expected pytorch-ssd's base-net layout")
    assert "unexpected" in msg
    refused(build_model(default_spec(ARCH, 3)), path, "torchvision-layout ResNet-50")


# -- checkpoints and ONNX -------------------------------------------------------------------

def test_checkpoint_recognised_from_its_keys(tmp_path):
    spec = default_spec(ARCH, LABELS)
    model = build_model(spec)
    load_base_net(model, saved(tmp_path, torchvision_resnet50_state(seed=9), "tv.pth"))
    state = model.state_dict()
    assert detect_arch(state) == ARCH and num_classes_of(state) == 4
    for other in ("vgg16-ssd", "mb1-ssd"):
        with pytest.raises(SsdEdgeError, match="do not fit %s" % other):
            detect_arch(state, other)
    path = tmp_path / "ckpt" / "resnet50-ssd-Epoch-0-Loss-1.0.pth"
    path.parent.mkdir()
    save_checkpoint(model, spec, path)
    os.remove(str(path) + ".spec.json")          # the keys alone must tell the net
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # labels.txt beside it: nothing to warn about
        loaded, got = load_checkpoint(path, labels=str(path.parent / "labels.txt"))
    assert got.arch == ARCH and got.labels == tuple(LABELS) and got.num_priors == 8732
    assert got.mean == spec.mean and got.std == spec.std
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.slow
def test_onnx_export_matches_pytorch_and_runs_in_the_runtime(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from ssd_edge import Detector
    from ssd_edge.cli.export import main
    from ssd_edge.export.metadata import get_spec

    spec = default_spec(ARCH, LABELS)
    model = build_model(spec)
    load_base_net(model, saved(tmp_path, torchvision_resnet50_state(seed=4), "tv.pth"))
    ckpt = tmp_path / "resnet50-ssd-Epoch-0-Loss-1.0.pth"
    save_checkpoint(model, spec, ckpt)
    rc = main([str(ckpt), "--output-dir", str(tmp_path), "-q"])   # parity to 1e-4 inside
    err = capsys.readouterr().err
    assert rc == 0, err
    path = str(tmp_path / "resnet50-ssd-Epoch-0-Loss-1.0.onnx")
    embedded = get_spec(onnx.load(path))
    assert embedded.arch == ARCH and embedded.num_priors == 8732
    assert [i.name for i in onnx.load(path).graph.input] == ["input_0"]
    x = np.random.default_rng(0).standard_normal((1, 3, 300, 300)).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    scores, boxes = sess.run(["scores", "boxes"], {"input_0": x})
    with torch.no_grad():
        ref_scores, ref_boxes = model.eval()(torch.from_numpy(x))
    assert scores.shape == (1, 8732, 4) and scores.std() > 1e-3
    np.testing.assert_allclose(scores, ref_scores.numpy(), atol=1e-4)
    np.testing.assert_allclose(boxes, ref_boxes.numpy(), atol=1e-4)
    det = Detector.load(path, backend="ort", conf_threshold=0.3)
    frame = (np.random.default_rng(1).random((240, 320, 3)) * 255).astype(np.uint8)
    dets = det(frame)
    assert det.spec.arch == ARCH and set(dets.labels) <= set(LABELS[1:])
