"""Every bad checkpoint or labels file is one SsdEdgeError line naming the problem."""
import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from ssd_edge import SsdEdgeError  # noqa: E402
from ssd_edge.models import build_model, default_spec, load_checkpoint  # noqa: E402


def refused(path, match, **kwargs):
    with pytest.raises(SsdEdgeError, match=match) as e:
        load_checkpoint(path, **kwargs)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.fixture(scope="module")
def mb1_state():
    return build_model(default_spec("mb1-ssd", 3)).state_dict()


@pytest.fixture
def good(tmp_path, mb1_state):
    path = tmp_path / "good.pth"
    torch.save(mb1_state, str(path))
    return path


def test_missing_file(tmp_path):
    refused(tmp_path / "nope.pth", "not found")
    refused(tmp_path, "got a directory")


def test_empty_file(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    refused(tmp_path / "empty.pth", "is empty")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(os.urandom(4096))
    refused(path, "cannot read .* as a PyTorch checkpoint")
    path.write_bytes(b"just some text\n")
    refused(path, "cannot read .* as a PyTorch checkpoint")


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_checkpoint(tmp_path, good, legacy):
    if legacy:
        torch.save(torch.load(str(good), weights_only=True), str(good),
                   _use_new_zipfile_serialization=False)
    data = good.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) * 2 // 3])
    refused(cut, "cannot read .* as a PyTorch checkpoint")


class _MakesADirectory(object):
    """Unpickling this calls os.mkdir(target): proof of code execution if it ever runs."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path, mb1_state, container):
    marker = str(tmp_path / "code-ran")
    path = tmp_path / "evil.pth"
    if container == "torch.save":
        torch.save(dict(mb1_state, evil=_MakesADirectory(marker)), str(path))
    else:  # plain pickle pickles tensors through globals of its own; keep just the payload
        path.write_bytes(pickle.dumps({"evil": _MakesADirectory(marker)}, protocol=2))
    # Sanity: the payload really is live when unpickled without the guard.
    pickle.loads(pickle.dumps(_MakesADirectory(marker + "-control")))
    assert os.path.isdir(marker + "-control")
    message = refused(path, "refused to load")
    assert "mkdir" in message
    assert not os.path.exists(marker)


def test_state_dict_of_unknown_architecture(tmp_path, mb1_state):
    state = dict(mb1_state)
    state["base_net.14.0.weight"] = torch.zeros(8, 8, 3, 3)   # a layer mb1 does not have
    path = tmp_path / "odd.pth"
    torch.save(state, str(path))
    message = refused(path, "unknown architecture")
    assert "closest known net is mb1-ssd " in message
    assert "'base_net.14.0.weight'" in message
    torch.save({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}, str(path))
    refused(path, "unknown architecture: closest known net is .*first key that does not fit: "
                  "'fc.weight'")
    dropped = dict(mb1_state)
    del dropped["extras.3.2.bias"]
    torch.save(dropped, str(path))
    refused(path, "closest known net is mb1-ssd .*first missing key: 'extras.3.2.bias'")


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], str(path))
    refused(path, "expected checkpoint .* to hold a state_dict")
    torch.save({"weight": torch.zeros(3), "lr": 0.1}, str(path))
    refused(path, "str keys, tensor values")


def test_labels_count_mismatch_gives_both_numbers(tmp_path, good):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(["BACKGROUND"] + ["c%d" % i for i in range(20)]) + "\n")
    refused(good, "checkpoint has 3 classes .* lists 21", labels=str(labels))


def test_labels_without_background_first(tmp_path, good):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")   # a VOC-style dataset labels.txt
    message = refused(good, "must start with BACKGROUND", labels=str(labels))
    assert "add a BACKGROUND line first" in message
    refused(good, "must start with BACKGROUND", labels=["cat", "BACKGROUND", "dog"])


def test_bad_labels_files(tmp_path, good):
    refused(good, "labels file .* not found", labels=str(tmp_path / "none.txt"))
    (tmp_path / "empty.txt").write_text("\n\n")
    refused(good, "is empty", labels=str(tmp_path / "empty.txt"))
    (tmp_path / "gap.txt").write_text("BACKGROUND\n\ncat\n")
    refused(good, "blank line 2", labels=str(tmp_path / "gap.txt"))


def test_heads_that_disagree_with_the_sidecar_levels(tmp_path, good):
    spec = default_spec("mb1-ssd", 3)
    levels = list(spec.prior_levels)
    levels[0] = levels[0].__class__(19, 16, 60, 105, (2.0,))   # 4 boxes per location, not 6
    spec.replace(prior_levels=tuple(levels)).save(str(good) + ".spec.json")
    refused(good, r"predict \[6, 6, 6, 6, 6, 6\] boxes per location .* \[4, 6, 6, 6, 6, 6\]")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_weights_are_refused(tmp_path, mb1_state, bad):
    state = {k: v.clone() for k, v in mb1_state.items()}
    key = next(k for k in state if k.endswith("weight") and state[k].is_floating_point())
    state[key].view(-1)[3] = bad
    path = tmp_path / "diverged.pth"
    torch.save(state, str(path))
    msg = refused(path, "NaN/Inf")
    assert key in msg and "1 NaN/Inf" in msg


def test_non_float_weights_are_refused_integer_buffers_are_not(tmp_path, mb1_state):
    counters = [k for k in mb1_state if k.endswith("num_batches_tracked")]
    assert counters and not mb1_state[counters[0]].is_floating_point()
    path = tmp_path / "ints.pth"
    torch.save(mb1_state, str(path))                       # int64 BatchNorm counters: fine
    load_checkpoint(str(path), labels=["BACKGROUND", "a", "b"])
    state = {k: v.clone() for k, v in mb1_state.items()}
    key = next(k for k in state if k.endswith("weight") and state[k].is_floating_point())
    state[key] = state[key].to(torch.int32)
    torch.save(state, str(path))
    assert "int32" in refused(path, "expected floating-point weights")


def test_duplicate_labels_are_refused(tmp_path, good):
    labels = tmp_path / "labels.txt"
    labels.write_text("BACKGROUND\ncat\ncat\n")
    msg = refused(good, "twice", labels=str(labels))
    assert "'cat'" in msg and "lines 2 and 3" in msg


def test_mb2_activation_assumed_is_warned_once_and_recorded(tmp_path):
    state = build_model(default_spec("mb2-ssd-lite", 3)).state_dict()
    path = tmp_path / "mb2.pth"
    torch.save(state, str(path))
    with pytest.warns(UserWarning) as rec:
        _, spec = load_checkpoint(str(path), labels=["BACKGROUND", "a", "b"])
    lines = [str(w.message) for w in rec if "activation" in str(w.message)]
    assert len(lines) == 1 and "relu6" in lines[0] and "--activation relu" in lines[0]
    assert spec.activation == "relu6" and spec.activation_assumed
    assert '"activation_assumed": true' in spec.to_json()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, given = load_checkpoint(str(path), labels=["BACKGROUND", "a", "b"], activation="relu")
    assert given.activation == "relu" and not given.activation_assumed
    assert "activation_assumed" not in given.to_json()
