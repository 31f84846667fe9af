"""Full disks (small tmpfs mounts) and read-only folders (``ro`` bind mounts) under every sink and
CLI that writes: one line naming the real reason, exit 2, nothing half-written under a final name,
and what a killed run left behind removed by the next one. Needs root (skips cleanly otherwise)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from ssd_edge.errors import SsdEdgeError
from ssd_edge.fileio import atomic_write_bytes, clean_stale
from ssd_edge.runtime.stream import Frame
from ssd_edge.runtime.stream.sinks import ImageSequenceSink, JsonlSink, VideoSink

cv2 = pytest.importorskip("cv2")


def _mount(args):
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount(8) for tmpfs / ro bind mounts")
    res = subprocess.run(["mount"] + args, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("mount %s failed here: %s" % (" ".join(args), res.stderr.strip()))


@pytest.fixture
def mounts():
    made = []

    def tmpfs(path, size="64k"):
        os.makedirs(str(path), exist_ok=True)
        _mount(["-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(path)])
        made.append(str(path))
        return str(path)

    def read_only(path):
        os.makedirs(str(path), exist_ok=True)
        _mount(["--bind", str(path), str(path)])
        made.append(str(path))
        _mount(["-o", "remount,ro,bind", str(path)])
        return str(path)

    yield tmpfs, read_only
    for path in reversed(made):
        subprocess.run(["umount", "-l", path], capture_output=True)


def noise(i, size=(480, 640)):
    return np.random.default_rng(i).integers(0, 256, size + (3,), dtype=np.uint8)


class NoDets:
    def to_list(self):
        return []


def frame(i):
    return Frame(noise(i, (48, 64)), i, 0.0, 0.0, 0.0)


def leftovers(folder):
    return [n for n in os.listdir(folder) if n.startswith(".") or n.endswith(".part")]


def test_video_on_full_disk_is_no_space_and_no_file(mounts, tmp_path):
    full = mounts[0](tmp_path / "full", "256k")
    path = os.path.join(full, "out.mp4")
    sink = VideoSink(path, fps=10)
    with pytest.raises(SsdEdgeError) as err:
        for i in range(200):
            sink.write(noise(i))
        sink.close()
    sink.close()
    assert "no space left on" in str(err.value) and "\n" not in str(err.value)
    assert not os.path.exists(path) and not leftovers(full)


def test_video_in_read_only_folder_names_the_reason(mounts, tmp_path):
    ro = mounts[1](tmp_path / "ro")
    sink = VideoSink(os.path.join(ro, "out.mp4"))
    with pytest.raises(SsdEdgeError) as err:
        sink.write(noise(0))
    assert "Read-only file system" in str(err.value) and "encoder" not in str(err.value)


def test_jsonl_on_full_disk_keeps_whole_lines(mounts, tmp_path):
    full = mounts[0](tmp_path / "full", "16k")
    path = os.path.join(full, "d.jsonl")
    sink = JsonlSink(path)
    with pytest.raises(SsdEdgeError, match="no space left on"):
        for i in range(100000):
            sink.write(None, frame(i), NoDets())
    sink.close()
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n") or not data
    for line in data.splitlines():
        assert line.startswith(b"{") and line.endswith(b"}")


def test_jsonl_path_that_is_a_folder(tmp_path):
    with pytest.raises(SsdEdgeError, match="it is a folder"):
        JsonlSink(str(tmp_path)).open()


def test_image_sequence_on_full_disk(mounts, tmp_path):
    full = mounts[0](tmp_path / "full", "64k")
    sink = ImageSequenceSink(os.path.join(full, "%05d.png"))
    sink.open((640, 480))
    with pytest.raises(SsdEdgeError, match="no space left on"):
        for i in range(100):
            sink.write(noise(i))
    assert not leftovers(full)


def test_image_sequence_in_read_only_folder(mounts, tmp_path):
    ro = mounts[1](tmp_path / "ro")
    with pytest.raises(SsdEdgeError, match="Read-only file system"):
        ImageSequenceSink(os.path.join(ro, "sub", "%05d.jpg")).open((64, 48))


def test_atomic_write_on_full_and_read_only(mounts, tmp_path):
    full = mounts[0](tmp_path / "full", "16k")
    with pytest.raises(SsdEdgeError, match="no space left on"):
        atomic_write_bytes(os.path.join(full, "big.bin"), b"\0" * (1 << 20))
    assert os.listdir(full) == []
    ro = mounts[1](tmp_path / "ro")
    with pytest.raises(SsdEdgeError, match="Read-only file system"):
        atomic_write_bytes(os.path.join(ro, "a.bin"), b"x")


@pytest.mark.slow
def test_ssd_live_output_on_full_disk_exits_2(mounts, tmp_path, tiny_onnx, video, capsys):
    from ssd_edge.cli.live import main
    full = mounts[0](tmp_path / "full", "128k")
    big = str(tmp_path / "big.mp4")
    w = cv2.VideoWriter(big, cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(60):
        w.write(noise(i))
    w.release()
    out = os.path.join(full, "out.mp4")
    rc = main(["--model", tiny_onnx, "--backend", "ort", "--source", big, "--output", out,
               "--headless", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "no space left on" in err[-1], err
    assert not os.path.exists(out) and not leftovers(full)


@pytest.mark.slow
def test_ssd_live_output_read_only_exits_2(mounts, tmp_path, tiny_onnx, video, capsys):
    from ssd_edge.cli.live import main
    ro = mounts[1](tmp_path / "ro")
    for out in ("out.mp4", "out.jsonl", "imgs/%03d.jpg"):
        rc = main(["--model", tiny_onnx, "--backend", "ort", "--source", video, "--output",
                   os.path.join(ro, out), "--headless", "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and "Read-only file system" in err[-1], (out, err)


def test_ssd_detect_into_read_only_and_full(mounts, tmp_path, tiny_onnx, capsys):
    from ssd_edge.cli.detect import main
    img = str(tmp_path / "a.png")
    cv2.imwrite(img, noise(0))
    ro = mounts[1](tmp_path / "ro")
    assert main([img, "--model", tiny_onnx, "--output-dir", os.path.join(ro, "out")]) == 2
    assert "Read-only file system" in capsys.readouterr().err
    full = mounts[0](tmp_path / "full", "16k")
    assert main([img, "--model", tiny_onnx, "--output-dir", full]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "no space left on" in err[-1], err
    assert not leftovers(full) and "a.png" not in os.listdir(full)


@pytest.mark.slow
def test_ssd_export_into_full_disk_then_stale_files_are_removed(mounts, tmp_path, tiny_onnx,
                                                               capsys):
    from ssd_edge.cli.export import main
    full = mounts[0](tmp_path / "full", str(os.path.getsize(tiny_onnx) // 2))
    rc = main([tiny_onnx, "--output-dir", full, "--no-check", "--no-simplify", "--fp16"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no space left on" in err[0], err
    assert os.listdir(full) == []


@pytest.mark.slow
def test_next_run_cleans_what_a_killed_run_left(tmp_path, tiny_onnx):
    from ssd_edge.cli.export import main
    out = tmp_path / "out"
    out.mkdir()
    dead = 2 ** 22 + 12345                  # above pid_max's default: no such process
    (out / (".tiny.onnx.%d.x1y2.part" % dead)).write_bytes(b"half")
    (out / (".ssd-edge-tmp-%d-abc" % dead)).mkdir()
    (out / (".ssd-edge-tmp-%d-abc" % dead) / "raw.onnx").write_bytes(b"half")
    live = out / (".tiny.onnx.%d.zz.part" % os.getppid())   # a run still going: kept
    live.write_bytes(b"busy")
    assert main([tiny_onnx, "--output-dir", str(out), "--no-check", "--no-simplify"]) == 0
    assert sorted(os.listdir(str(out))) == sorted(["tiny.onnx", live.name])
    assert clean_stale(str(out)) == []


@pytest.mark.slow
def test_checkpoint_on_full_disk(mounts, tmp_path):
    torch = pytest.importorskip("torch")
    from ssd_edge.models import build_model, build_spec, save_checkpoint
    spec = build_spec("mb1-ssd-lite", ["BACKGROUND", "a"])
    full = mounts[0](tmp_path / "full", "1m")
    with pytest.raises(SsdEdgeError, match="no space left on"):
        save_checkpoint(build_model(spec), spec, os.path.join(full, "m.pth"))
    assert os.listdir(full) == []
    assert torch is not None
