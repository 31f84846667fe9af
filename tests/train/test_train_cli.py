"""ssd-train end to end on a small synthetic dataset: checkpoints, resume, transfer, freezing,
class subsets, bad input, and DistributedDataParallel with two CPU processes (gloo)."""
import glob
import json
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import SMALL  # noqa: E402
from ssd_edge.cli.train import main  # noqa: E402
from ssd_edge.models import load_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow


def _run(args, capsys=None):
    rc = main(args)
    return rc


def test_train_writes_pytorch_ssd_checkpoints_and_resumes(shapes_voc, tmp_path, capsys):
    out = str(tmp_path / "models")
    assert main(["--datasets", shapes_voc, "--epochs", "2", "--model-dir", out] + SMALL) == 0
    ckpts = sorted(glob.glob(os.path.join(out, "mb2-ssd-lite-Epoch-*-Loss-*.pth")))
    assert [os.path.basename(c).split("-Loss-")[0] for c in ckpts] == \
        ["mb2-ssd-lite-Epoch-0", "mb2-ssd-lite-Epoch-1"]
    assert open(os.path.join(out, "labels.txt")).read().split() == \
        ["BACKGROUND", "circle", "square", "triangle", "star"]
    # A plain state_dict, as pytorch-ssd writes and loads it.
    state = torch.load(ckpts[-1], map_location="cpu", weights_only=True)
    assert isinstance(state, dict) and next(iter(state)).startswith("base_net.")
    model, spec = load_checkpoint(ckpts[-1])
    assert spec.arch == "mb2-ssd-lite" and spec.activation == "relu" and spec.input_size == (160, 160)
    summary = json.load(open(os.path.join(out, "train-summary.json")))
    assert [e["epoch"] for e in summary["epochs"]] == [0, 1]
    assert 0.0 <= summary["epochs"][1]["map"] <= 1.0 and summary["epochs"][1]["val_loss"] > 0
    assert "last checkpoint: " + ckpts[-1] in capsys.readouterr().out
    # --resume continues after the saved epoch with the same weights and optimiser.
    assert main(["--datasets", shapes_voc, "--epochs", "3", "--model-dir", out,
                 "--resume", os.path.join(out, "train-state.pt")] + SMALL) == 0
    summary = json.load(open(os.path.join(out, "train-summary.json")))
    assert [e["epoch"] for e in summary["epochs"]] == [2]
    assert glob.glob(os.path.join(out, "mb2-ssd-lite-Epoch-2-Loss-*.pth"))


def test_transfer_learning_to_a_class_subset_with_frozen_base(shapes_voc, tmp_path):
    first = str(tmp_path / "first")
    assert main(["--datasets", shapes_voc, "--epochs", "1", "--model-dir", first,
                 "--no-val-map"] + SMALL) == 0
    source = glob.glob(os.path.join(first, "*.pth"))[0]
    second = str(tmp_path / "second")
    assert main(["--datasets", shapes_voc, "--epochs", "1", "--model-dir", second,
                 "--classes", "star,circle", "--pretrained-ssd", source, "--freeze-base-net",
                 "--no-val-map"] + SMALL) == 0
    assert open(os.path.join(second, "labels.txt")).read().split() == \
        ["BACKGROUND", "star", "circle"]
    before = torch.load(source, weights_only=True)
    after = torch.load(glob.glob(os.path.join(second, "*.pth"))[0], weights_only=True)
    assert after["classification_headers.0.3.weight"].shape[0] == 3 * 6   # 3 classes x 6 anchors
    frozen = [k for k in after if k.startswith("base_net.") and k.endswith(".weight")
              and "running" not in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    trained = [k for k in after if k.startswith("extras.") and k.endswith("weight")]
    assert any(not torch.equal(before[k], after[k]) for k in trained)


def test_freeze_net_trains_only_the_heads(shapes_voc, tmp_path):
    from ssd_edge.train.options import parse_options
    from ssd_edge.train.model import build_net, param_groups
    opts = parse_options(["--datasets", shapes_voc, "--freeze-net"] + SMALL)
    net, _ = build_net(opts, ["BACKGROUND", "a"])
    groups = param_groups(net, opts)
    trainable = {id(p) for g in groups for p in g["params"]}
    heads = {id(p) for m in (net.classification_headers, net.regression_headers)
             for p in m.parameters()}
    assert trainable == heads
    assert not any(p.requires_grad for p in net.base_net.parameters())
    opts = parse_options(["--datasets", shapes_voc, "--base-net-lr", "0.001",
                          "--extra-layers-lr", "0.002", "--lr", "0.01"] + SMALL)
    assert [g["lr"] for g in param_groups(build_net(opts, ["BACKGROUND", "a"])[0], opts)] == \
        [0.001, 0.002, 0.01]


def test_lr_schedules():
    from ssd_edge.train.options import parse_options
    from ssd_edge.train.model import lr_factor
    o = parse_options(["--datasets", "x", "--epochs", "10", "--warmup-epochs", "1"])
    assert lr_factor(0.5, o) == pytest.approx(0.5 * 0.5 * (1 + __import__("math").cos(0.05 *
                                                                                         3.14159265)), rel=1e-6)
    assert lr_factor(10, o) == pytest.approx(0.0, abs=1e-9)
    o = parse_options(["--datasets", "x", "--scheduler", "multi-step", "--milestones", "3,6"])
    assert [lr_factor(e, o) for e in (0, 2.9, 3, 6.5)] == pytest.approx([1, 1, 0.1, 0.01])


@pytest.mark.parametrize("extra, message", [
    (["--datasets", "/no/such/folder"], "/no/such/folder"),
    (["--classes", "circle,hexagon"], "hexagon"),
    (["--device", "cpu", "--amp"], "--amp"),
    (["--lr", "0"], "--lr"),
    (["--lr", "nan"], "expected a finite number for --lr, got nan"),
    (["--base-net-lr", "nan"], "--base-net-lr"),
    (["--momentum", "inf"], "--momentum"),
    (["--milestones", "a,b"], "--milestones"),
    (["--train-split", "nosuchsplit"], "nosuchsplit"),
])
def test_bad_input_is_one_line_and_exit_2(shapes_voc, tmp_path, capsys, extra, message):
    args = ["--datasets", shapes_voc, "--model-dir", str(tmp_path / "m")] + SMALL + extra
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ssd-train: error:") and message in err[0]


def test_resume_from_another_net_is_refused(shapes_voc, tmp_path, capsys):
    from ssd_edge.models import build_model, build_spec, save_checkpoint
    spec = build_spec("mb1-ssd-lite", ["BACKGROUND", "circle", "square", "triangle", "star"])
    ckpt = str(tmp_path / "other.pth")
    save_checkpoint(build_model(spec), spec, ckpt)
    assert main(["--datasets", shapes_voc, "--model-dir", str(tmp_path / "m"),
                 "--resume", ckpt] + SMALL) == 2
    assert "--resume" in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes_agree_and_write_one_checkpoint(shapes_voc, tmp_path):
    out = str(tmp_path / "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
           "-m", "ssd_edge.train", "--datasets", shapes_voc, "--epochs", "1",
           "--max-iters", "2", "--model-dir", out, "--no-val-map"] + SMALL
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "all 2 ranks agree on the weights" in p.stderr
    assert "over 2 process(es)" in p.stderr
    ckpts = glob.glob(os.path.join(out, "*.pth"))
    assert len(ckpts) == 1                      # rank 0 alone writes
    summary = json.load(open(os.path.join(out, "train-summary.json")))
    assert summary["world_size"] == 2 and len(set(summary["weights_checksums"])) == 1
    model, spec = load_checkpoint(ckpts[0])
    from ssd_edge.train.dist import weights_checksum
    assert weights_checksum(model) == summary["weights_checksums"][0]


def test_diverging_run_stops_in_one_line_and_writes_no_nan_checkpoint(shapes_voc, tmp_path,
                                                                      capsys):
    """A learning rate that blows the weights up: the first non-finite loss stops the run."""
    out = tmp_path / "m"
    rc = main(["--datasets", shapes_voc, "--epochs", "2", "--model-dir", str(out), "--lr", "100"]
              + SMALL)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("ssd-train: error: expected a finite"), err
    assert not [p for p in out.glob("*.pth") if "nan" in p.name.lower() or "inf" in p.name.lower()]


def test_nan_validation_loss_writes_nothing(shapes_voc, tmp_path, capsys, monkeypatch):
    """Stand-in validation loss of NaN (a net that diverged on the validation set only)."""
    from ssd_edge.train import trainer
    monkeypatch.setattr(trainer, "validation_loss", lambda *a, **k: float("nan"))
    out = tmp_path / "m"
    rc = main(["--datasets", shapes_voc, "--epochs", "1", "--model-dir", str(out)] + SMALL)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "expected a finite validation loss, got nan" in err[-1], err
    assert not list(out.glob("*.pth"))


def test_ultraface_net_trains_at_a_non_square_size(shapes_voc, tmp_path):
    out = str(tmp_path / "uf")
    args = ["--datasets", shapes_voc, "--epochs", "1", "--model-dir", out, "--net",
            "ultraface-slim", "--resolution", "160", "--batch-size", "4", "--workers", "0",
            "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    ckpt = glob.glob(os.path.join(out, "ultraface-slim-Epoch-0-Loss-*.pth"))[0]
    model, spec = load_checkpoint(ckpt)
    assert spec.arch == "ultraface-slim" and spec.frame_size == (160, 120)   # N x 3N/4
    assert spec.num_priors == 20 * 15 * 3 + 10 * 8 * 2 + 5 * 4 * 2 + 3 * 2 * 3
