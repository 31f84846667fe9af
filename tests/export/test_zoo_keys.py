"""Every pytorch-ssd net has exactly pytorch-ssd's state_dict keys, shapes and key order (21
classes); resnet50-ssd's own keys are checked against docs/models.md in test_zoo_resnet.py.

The expected lists are ``data/pytorch-ssd-keys.txt``, dumped from pytorch-ssd (upstream HEAD
7a839cb) with ``num_classes=21``; nothing here runs a forward pass.
"""
import pathlib

import pytest

torch = pytest.importorskip("torch")

from ssd_edge.models import ARCHS, build_model, default_spec  # noqa: E402
from ssd_edge.models.specs import PYTORCH_SSD_ARCHS  # noqa: E402

KEYS_FILE = pathlib.Path(__file__).parent / "data" / "pytorch-ssd-keys.txt"


def reference_keys():
    """``{arch: [(key, shape tuple), ...]}`` from the reference dump, in file order."""
    out, arch = {}, None
    for line in KEYS_FILE.read_text().splitlines():
        if line.startswith("## "):
            arch = line[3:].strip()
            out[arch] = []
        elif arch and line.strip() and not line.startswith("#"):
            key, shape = line.split("\t")
            out[arch].append((key, tuple(int(v) for v in shape.strip("()").split(",") if v)))
    return out


REFERENCE = reference_keys()


def test_reference_file_covers_every_arch():
    assert sorted(REFERENCE) == sorted(PYTORCH_SSD_ARCHS)


@pytest.mark.parametrize("arch", PYTORCH_SSD_ARCHS)
def test_state_dict_keys_shapes_and_order_match_pytorch_ssd(arch):
    model = build_model(default_spec(arch, 21))
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    want = REFERENCE[arch]
    first_diff = next(((g, w) for g, w in zip(got, want) if g != w), None)
    assert first_diff is None, "first difference (ours, pytorch-ssd): %s" % (first_diff,)
    assert len(got) == len(want)


@pytest.mark.parametrize("arch", ARCHS)
def test_priors_are_a_buffer_outside_the_checkpoint(arch):
    spec = default_spec(arch, 3)
    model = build_model(spec)
    assert "priors" not in model.state_dict()
    assert torch.equal(model.priors, torch.from_numpy(spec.priors()))


def test_mb2_width_multiplier_changes_backbone_and_first_head_only():
    # Heads 1..5 and extras read fixed channel counts (1280, 512, 256, 64), as upstream.
    half = dict((k, tuple(v.shape)) for k, v in
                build_model(default_spec("mb2-ssd-lite", 21, width_mult=0.5)).state_dict().items())
    full = dict(REFERENCE["mb2-ssd-lite"])
    assert set(half) == set(full)
    assert half["base_net.0.0.weight"] == (16, 3, 3, 3)
    assert half["classification_headers.0.0.weight"] == (288, 1, 3, 3)
    assert half["classification_headers.1.0.weight"] == full["classification_headers.1.0.weight"]
    assert half["extras.0.conv.0.weight"] == full["extras.0.conv.0.weight"]
