"""Exact equivalence with pytorch-ssd itself, when a checkout of it is available.

Set ``SSD_EDGE_PYTORCH_SSD`` to a pytorch-ssd checkout (qfgaohao/pytorch-ssd or the dusty-nv
fork; the folder holding ``vision/``) to run these; they skip otherwise. Nothing of pytorch-ssd
is copied into this project: its nets are imported from that folder and fed our weights.
"""
import importlib
import os
import sys
import types

import pytest

torch = pytest.importorskip("torch")

from ssd_edge.models import build_model, build_spec, load_checkpoint  # noqa: E402

CHECKOUT = os.environ.get("SSD_EDGE_PYTORCH_SSD")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not CHECKOUT or not os.path.isdir(os.path.join(CHECKOUT or "", "vision")),
    reason="set SSD_EDGE_PYTORCH_SSD to a pytorch-ssd checkout to compare against it")]

# (arch, activation, width) -> (upstream module, factory, extra kwargs)
UPSTREAM = {
    ("vgg16-ssd", None, 1.0): ("vgg_ssd", "create_vgg_ssd", {}),
    ("mb1-ssd", None, 1.0): ("mobilenetv1_ssd", "create_mobilenetv1_ssd", {}),
    ("mb1-ssd-lite", None, 1.0): ("mobilenetv1_ssd_lite", "create_mobilenetv1_ssd_lite", {}),
    ("mb2-ssd-lite", "relu6", 1.0): ("mobilenet_v2_ssd_lite", "create_mobilenetv2_ssd_lite", {}),
    ("mb2-ssd-lite", "relu", 1.0): ("mobilenet_v2_ssd_lite", "create_mobilenetv2_ssd_lite",
                                    {"onnx_compatible": True}),
    ("mb2-ssd-lite", "relu6", 0.5): ("mobilenet_v2_ssd_lite", "create_mobilenetv2_ssd_lite",
                                     {"width_mult": 0.5}),
    ("mb3-large-ssd-lite", None, 1.0): ("mobilenetv3_ssd_lite",
                                        "create_mobilenetv3_large_ssd_lite", {}),
    ("mb3-small-ssd-lite", None, 1.0): ("mobilenetv3_ssd_lite",
                                        "create_mobilenetv3_small_ssd_lite", {}),
    ("sq-ssd-lite", None, 1.0): ("squeezenet_ssd_lite", "create_squeezenet_ssd_lite", {}),
}


def upstream_factory(module, name):
    if CHECKOUT not in sys.path:
        sys.path.insert(0, CHECKOUT)
    try:
        import torchvision  # noqa: F401
    except ImportError:
        # Test double: upstream's transforms module imports torchvision at top, but the nets
        # never touch it. An empty stand-in lets the net modules import without it.
        stub = types.ModuleType("torchvision")
        stub.transforms = types.ModuleType("torchvision.transforms")
        sys.modules.setdefault("torchvision", stub)
        sys.modules.setdefault("torchvision.transforms", stub.transforms)
    try:
        return getattr(importlib.import_module("vision.ssd." + module), name)
    except ImportError:  # the dusty-nv fork has no MobileNetV3
        pytest.skip("%s has no vision.ssd.%s" % (CHECKOUT, module))


def randomise(model, seed):
    """Random weights of a realistic scale (He-like convs, BN gains around 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("weight") and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / t[0].numel()) ** 0.5)


@pytest.mark.parametrize("key", list(UPSTREAM), ids=lambda k: "%s-%s-%s" % k)
def test_eval_outputs_identical_to_pytorch_ssd(key, tmp_path):
    arch, activation, width = key
    module, name, kwargs = UPSTREAM[key]
    spec = build_spec(arch, 5, activation=activation, width_mult=width)
    ours = build_model(spec)
    randomise(ours, seed=3)
    theirs = upstream_factory(module, name)(5, is_test=True, **kwargs)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    theirs.eval()
    x = torch.randn(1, 3, 300, 300, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got, want = ours(x), theirs(x)
    assert torch.equal(ours.priors, theirs.priors.cpu())
    for a, b in zip(got, want):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b.cpu(), rtol=0, atol=1e-6)
    # A file saved by pytorch-ssd's own SSD.save loads here as the same net.
    path = str(tmp_path / ("%s-Epoch-0-Loss-1.0.pth" % arch))
    theirs.save(path)
    loaded, got_spec = load_checkpoint(path, labels=list(spec.labels), activation=activation)
    assert got_spec.replace(source_sha256=None) == spec
    with torch.no_grad():
        again = loaded(x)
    for a, b in zip(again, want):
        torch.testing.assert_close(a, b.cpu(), rtol=0, atol=1e-6)
