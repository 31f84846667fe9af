"""Checkpoint import and export: round trip, wrappers, labels, net detection, sidecar."""
import hashlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ssd_edge import SsdEdgeError  # noqa: E402
from ssd_edge.models import (ARCHS, build_model, build_spec, default_spec,  # noqa: E402
                             detect_arch, load_checkpoint, read_labels, save_checkpoint)
from ssd_edge.models.detect import num_classes_of, width_mult_of  # noqa: E402


def outputs(model, size=300):
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return [t.numpy() for t in model(x)]


def randomised(spec, seed=0):
    """A model for ``spec`` whose every float tensor (BatchNorm statistics too) is random, so a
    round trip that dropped or mixed up any tensor shows in the outputs."""
    model = build_model(spec)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                noise = torch.rand(t.shape, generator=g)
                t.copy_(noise + 0.5 if name.endswith("running_var") else (noise - 0.5) * 0.2)
    return model


def write_labels(path, names):
    path.write_text("\n".join(names) + "\n")
    return str(path)


def load_quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_checkpoint(*args, **kwargs)


@pytest.mark.parametrize("arch", ARCHS)
def test_net_and_class_count_detected_from_keys(arch):
    state = build_model(default_spec(arch, 7)).state_dict()
    assert detect_arch(state) == arch
    assert num_classes_of(state) == 7


@pytest.mark.parametrize("width", [1.0, 0.75, 0.5])
def test_mb2_width_multiplier_read_from_shapes(width):
    state = build_model(default_spec("mb2-ssd-lite", 3, width_mult=width)).state_dict()
    assert width_mult_of("mb2-ssd-lite", state) == width


def test_round_trip_plain_state_dict_like_pytorch_ssd(tmp_path):
    spec = default_spec("mb1-ssd-lite", ["BACKGROUND", "cat", "dog"])
    model = randomised(spec)
    path = tmp_path / "mb1-ssd-lite-Epoch-3-Loss-1.5.pth"
    written = save_checkpoint(model, spec, path)
    # What pytorch-ssd itself loads: a plain state_dict with exactly the model's keys.
    raw = torch.load(str(path), map_location="cpu", weights_only=True)
    assert list(raw) == list(model.state_dict())
    assert (tmp_path / "labels.txt").read_text().splitlines() == ["BACKGROUND", "cat", "dog"]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert written.source_sha256 == sha
    loaded, got = load_checkpoint(path)
    assert got.source_sha256 == sha
    assert got.replace(source_sha256=None) == spec
    for a, b in zip(outputs(model), outputs(loaded)):
        np.testing.assert_array_equal(a, b)


def test_sidecar_restores_what_weights_cannot_tell(tmp_path):
    spec = build_spec("mb2-ssd-lite", ["BACKGROUND", "a", "b"], resolution=256,
                      activation="relu", width_mult=0.5)
    model = randomised(spec)
    path = tmp_path / "model.pth"
    save_checkpoint(model, spec, path)
    loaded, got = load_checkpoint(str(path))
    assert got.replace(source_sha256=None) == spec
    assert got.activation == "relu" and got.input_size == (256, 256)
    for a, b in zip(outputs(model, 256), outputs(loaded, 256)):
        np.testing.assert_array_equal(a, b)
    # Without the sidecar the activation falls back to relu6 (published mb2), width from shapes.
    (tmp_path / "model.pth.spec.json").unlink()
    _, bare = load_checkpoint(path, labels=str(tmp_path / "labels.txt"))
    assert (bare.activation, bare.width_mult, bare.input_size) == ("relu6", 0.5, (300, 300))
    _, relu = load_checkpoint(path, labels=["BACKGROUND", "a", "b"], activation="relu",
                              resolution=256)
    assert relu.replace(source_sha256=None) == spec


@pytest.mark.parametrize("wrap", ["state_dict", "model", "net", "module.", "legacy"])
def test_wrappers_prefix_and_legacy_format_accepted(tmp_path, wrap):
    spec = default_spec("sq-ssd-lite", 3)
    model = randomised(spec, seed=2)
    state = model.state_dict()
    path = str(tmp_path / "ckpt.pth")
    if wrap == "module.":
        torch.save({"module." + k: v for k, v in state.items()}, path)
    elif wrap == "legacy":  # the pre-1.6 format the published pytorch-ssd files use
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        torch.save({wrap: state, "epoch": 12, "optimizer": {"lr": 0.01}}, path)
    loaded, got = load_quiet(path)
    assert got.arch == "sq-ssd-lite" and got.num_classes == 3
    for a, b in zip(outputs(model), outputs(loaded)):
        np.testing.assert_array_equal(a, b)


def test_without_labels_names_classes_and_warns_once(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(build_model(default_spec("mb1-ssd", 4)).state_dict(), str(path))
    with pytest.warns(UserWarning) as record:
        _, spec = load_checkpoint(path)
    assert spec.labels == ("BACKGROUND", "class1", "class2", "class3")
    assert len([w for w in record if "class1..class3" in str(w.message)]) == 1


def test_labels_from_file_and_list(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(build_model(default_spec("mb1-ssd", 3)).state_dict(), str(path))
    labels = write_labels(tmp_path / "labels.txt", ["BACKGROUND", "cat", "dog", "", ""])
    assert read_labels(labels) == ("BACKGROUND", "cat", "dog")
    assert load_checkpoint(path, labels=labels)[1].labels == ("BACKGROUND", "cat", "dog")
    assert load_checkpoint(path, labels=["BACKGROUND", "x", "y"])[1].labels[1:] == ("x", "y")


def test_explicit_net_must_fit_the_keys(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(build_model(default_spec("mb1-ssd", 3)).state_dict(), str(path))
    assert load_quiet(path, net="mb1-ssd")[1].arch == "mb1-ssd"
    with pytest.raises(SsdEdgeError, match="do not fit mb1-ssd-lite"):
        load_quiet(path, net="mb1-ssd-lite")


def test_sidecar_of_another_file_warns_and_of_another_net_is_refused(tmp_path):
    spec = default_spec("mb1-ssd", 3)
    path = tmp_path / "m.pth"
    save_checkpoint(build_model(spec), spec, path)
    torch.save(build_model(spec).state_dict(), str(path))     # retrained, sidecar left behind
    with pytest.warns(UserWarning, match="written for another file"):
        load_checkpoint(path)
    default_spec("mb1-ssd-lite", 3).save(str(path) + ".spec.json")
    with pytest.raises(SsdEdgeError, match="describes a mb1-ssd-lite but the weights are a mb1-ssd"):
        load_checkpoint(path)
