"""Every numeric flag is range-checked right after parsing: one line, exit 2, nothing run."""
import pytest

from ssd_edge.cli import bench, detect, eval as eval_cli, export, live, train

BAD = [
    (live.main, ["--source", "x.mp4", "--iou", "nan"], "--iou"),
    (live.main, ["--source", "x.mp4", "--iou", "0"], "--iou"),
    (live.main, ["--source", "x.mp4", "--alpha", "2"], "--alpha"),
    (live.main, ["--source", "x.mp4", "--width", "100000", "--height", "100000"], "--width"),
    (live.main, ["--source", "x.mp4", "--rate", "inf"], "--rate"),
    (live.main, ["--source", "x.mp4", "--rate", "nan"], "--rate"),
    (live.main, ["--source", "x.mp4", "--duration", "-1"], "--duration"),
    (live.main, ["--source", "x.mp4", "--max-frames", "0"], "--max-frames"),
    (live.main, ["--camera", "-1"], "--camera"),
    (live.main, ["--source", "x.mp4", "--threshold", "nan"], "--threshold"),
    (detect.main, ["x.jpg", "--iou", "1.5"], "--iou"),
    (export.main, ["m.pth", "--opset", "99"], "--opset"),
    (export.main, ["m.pth", "--opset", "3"], "--opset"),
    (export.main, ["m.pth", "--batch", "0"], "--batch"),
    (export.main, ["m.pth", "--max-batch", "-4"], "--max-batch"),
    (export.main, ["m.pth", "--conf", "-0.5"], "--conf"),
    (export.main, ["m.pth", "--iou", "nan"], "--iou"),
    (export.main, ["m.pth", "--max-detections", "0"], "--max-detections"),
    (export.main, ["m.pth", "--resolution", "8"], "--resolution"),
    (export.main, ["m.pth", "--calib-count", "0"], "--calib-count"),
    (export.main, ["m.pth", "--dla", "-1"], "--dla"),
    (export.main, ["m.pth", "--workspace", "0"], "--workspace"),
    (eval_cli.main, ["m.onnx", "--dataset", "d", "--conf", "inf"], "--conf"),
    (eval_cli.main, ["m.onnx", "--dataset", "d", "--limit", "0"], "--limit"),
    (bench.main, ["m.onnx", "--iterations", "0"], "--iterations"),
    (bench.main, ["m.onnx", "--threads", "0"], "--threads"),
    (train.main, ["--datasets", "x", "--momentum", "1.5"], "--momentum"),
    (train.main, ["--datasets", "x", "--lr", "nan"], "--lr"),
    (train.main, ["--datasets", "x", "--batch-size", "0"], "--batch-size"),
]


@pytest.mark.parametrize("main,argv,flag", BAD, ids=["%s %s" % (m.__module__.split(".")[-1],
                                                                 " ".join(a[-2:]))
                                                     for m, a, _ in BAD])
def test_out_of_range_flag_is_one_line_exit_2(main, argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(argv)
    except SystemExit as e:     # argparse rejected the spelling itself
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0], err
    assert not list(tmp_path.iterdir())
