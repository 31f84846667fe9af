#!/usr/bin/env python3
"""The standard benchmark matrix on this machine, in one command; the tables in
benchmarks/README.md are its output.

CPU (default): mb1-ssd, mb2-ssd-lite and vgg16-ssd at 300×300 with 21 classes — the checkpoints
given with ``--checkpoint ARCH=PATH``, otherwise built with seeded random weights (speed does not
depend on the weights; accuracy does, so mAP is only measured for given checkpoints) — exported
by ssd-export's own code to FP32, FP16 and INT8 ONNX (INT8 calibrated on ``--calib`` images, by
default on generated synthetic scenes: fine for speed, not a statement about accuracy), then
every artifact on every backend present (ONNX Runtime, OpenVINO, OpenCV DNN, TensorRT; the
``.pth`` through the torch backend and through pytorch-ssd's Predictor, the eager peer), batch 1,
on 640×480 frames, each measured with ``ssd-bench``'s runner; then the ratios.

``--gpu``: the ``.pth`` on the torch backend on CUDA at batch 1 / 32 / 256, NMS on the GPU and on
the CPU, FP16 and FP32 where the backend offers the choice, beside pytorch-ssd's Predictor on the
same GPU. Without a CUDA device visible to torch it says so and exits 0.

    python benchmarks/suite.py --out benchmarks/results/cpu-<name>.json --update-readme
    python benchmarks/suite.py --models mb1-ssd --iterations 5 --out /tmp/quick.json   # minutes
    python benchmarks/suite.py --gpu --out benchmarks/results/gpu-h100.json --update-readme
"""
import argparse
import os
import re
import shlex
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from ssd_edge.cli.common import cli_entry  # noqa: E402
from ssd_edge.errors import SsdEdgeError  # noqa: E402

MODELS = ("mb1-ssd", "mb2-ssd-lite", "vgg16-ssd")
README = os.path.join(HERE, "README.md")
RESULTS = os.path.join(HERE, "results")


def build_parser():
    p = argparse.ArgumentParser(prog="suite.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--out", help="result JSON (default: benchmarks/results/<cpu|gpu>-<device>.json)")
    p.add_argument("--markdown", help="also write the Markdown of this run")
    p.add_argument("--plot", help="also write PNG charts of this run")
    p.add_argument("--update-readme", action="store_true",
                   help="rewrite the results block of --readme from every result in --results-dir")
    p.add_argument("--readme", default=README, help="README with the results markers")
    p.add_argument("--results-dir", default=RESULTS, help="committed result files")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo nets")
    p.add_argument("--checkpoint", action="append", default=[], metavar="ARCH=PATH",
                   help="a real checkpoint for a net (repeatable); mAP is measured for these")
    p.add_argument("--bundled", action="store_true", help="add the bundled model")
    p.add_argument("--resolution", help="N or WxH for the random-weight nets (default: each "
                   "net's own: 300, UltraFace 320x240)")
    p.add_argument("--backend", help="ssd-bench --backend (default: every one present)")
    p.add_argument("--batch", help="batch sizes (default 1; --gpu: 1,32,256)")
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=6.0, help="cap per case (default 6)")
    p.add_argument("--threads", type=int, help="CPU threads per backend (default: its own)")
    p.add_argument("--calib", help="INT8 calibration images (default: generated scenes)")
    p.add_argument("--calib-count", type=int, default=32)
    p.add_argument("--data", help="dataset for the mAP of the given/bundled checkpoints")
    p.add_argument("--split", help="split of --data")
    p.add_argument("--work", help="keep (and reuse) checkpoints and exports here")
    p.add_argument("--label", help="device name in tables")
    p.add_argument("--gpu", action="store_true", help="the GPU matrix (torch on CUDA)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return p


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:60] or "device"


def checkpoints(a, work):
    """``[(path, real)]``: given checkpoints, the bundled one, random-weight ones for the rest."""
    given = {}
    for item in a.checkpoint:
        arch, sep, path = item.partition("=")
        if not sep or not os.path.isfile(path):
            raise SsdEdgeError("expected --checkpoint ARCH=PATH to an existing file, got %r" % item)
        given[arch] = path
    out = []
    archs = [m for m in a.models.split(",") if m]
    for arch in archs:
        out.append((given[arch], True) if arch in given else (random_checkpoint(arch, a, work),
                                                               False))
    if a.bundled:
        from ssd_edge.runtime import assets
        path = assets.bundled_model(checkpoint=True)    # the suite exports from the .pth
        if path is None:
            raise SsdEdgeError("expected the bundled model with --bundled, got none in this "
                               "installation")
        out.append((path, True))
    return out


def random_checkpoint(arch, a, work):
    """A seeded random-weight checkpoint of ``arch`` with the 21 VOC classes."""
    import torch
    from ssd_edge.data import VOC_CLASSES
    from ssd_edge.models import ARCHS, build_model, build_spec, save_checkpoint
    if arch not in ARCHS:
        raise SsdEdgeError("unknown net %r in --models; expected some of %s"
                           % (arch, ", ".join(ARCHS)))
    folder = os.path.join(work, arch)
    path = os.path.join(folder, "%s-random.pth" % arch)
    if os.path.isfile(path):
        return path
    os.makedirs(folder, exist_ok=True)
    spec = build_spec(arch, list(VOC_CLASSES), resolution=a.resolution)
    torch.manual_seed(a.seed)
    save_checkpoint(build_model(spec).eval(), spec, path)
    return path


def calibration(a, work):
    if a.calib:
        return a.calib
    folder = os.path.join(work, "calib")
    images = os.path.join(folder, "JPEGImages")
    if not os.path.isdir(images) or len(os.listdir(images)) < a.calib_count:
        from ssd_edge.data import generate_voc
        generate_voc(folder, a.calib_count, seed=a.seed + 101, image_size=(640, 480))
    return images


def export(path, calib, a, work):
    """FP32, FP16 and INT8 ONNX of checkpoint ``path`` in ``work`` (reused when newer than it;
    never written beside a given or bundled checkpoint)."""
    from ssd_edge.export.options import ExportOptions
    from ssd_edge.export.pipeline import Source, artifact_path, run_export
    from ssd_edge.models import load_checkpoint
    stem = os.path.join(work, os.path.splitext(os.path.basename(path))[0])
    outs = [artifact_path(stem, p) for p in ("fp32", "fp16", "int8")]
    if all(os.path.isfile(o) and os.path.getmtime(o) >= os.path.getmtime(path) for o in outs):
        return outs
    model, spec = load_checkpoint(path)
    print("exporting %s (FP32, FP16, INT8 on %s)" % (os.path.basename(path), calib), flush=True)
    options = ExportOptions(fp16=True, int8=True, calib_dir=calib, calib_count=a.calib_count,
                            dynamic_batch=True, check=False, seed=a.seed)
    run_export(Source(spec=spec, stem=stem, model=model), options, echo=lambda *_: None)
    return outs


def torch_precisions():
    """FP16 and FP32 when the torch backend can be asked for either, else its default."""
    from ssd_edge.bench.cases import precision_kwargs
    from ssd_edge.runtime.backends import backend_class
    try:
        precision_kwargs(backend_class("torch"), "torch", "fp32")
    except SsdEdgeError:
        return ()
    return ("fp16", "fp32")


def bench_options(a):
    from ssd_edge.bench.cases import BenchOptions, parse_backends, parse_int_list
    common = dict(iterations=a.iterations, warmup=a.warmup, max_seconds=a.max_seconds,
                  min_iterations=min(5, a.iterations), threads=a.threads, data=a.data,
                  split=a.split, progress=not a.no_progress, seed=a.seed)
    if a.gpu:
        return BenchOptions(backends=parse_backends(a.backend or "torch,pytorch-ssd"),
                            batches=parse_int_list(a.batch or "1,32,256"), device="cuda",
                            host_nms=True, torch_precision=torch_precisions(),
                            peer_max_batch=1, **common)
    return BenchOptions(backends=parse_backends(a.backend) if a.backend else (),
                        batches=parse_int_list(a.batch or "1"), **common)


def cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def write_outputs(doc, a):
    from ssd_edge.bench.report import (load_result, markdown, result_files, update_readme,
                                       write_json, write_markdown)
    write_json(a.out, doc)
    print("wrote %s" % a.out)
    if a.markdown:
        write_markdown(a.markdown, [doc])
    if a.plot:
        from ssd_edge.bench.plot import plot_results
        plot_results([doc], a.plot)
    if a.update_readme:
        files = result_files(a.results_dir)
        if os.path.abspath(a.out) not in [os.path.abspath(f) for f in files]:
            files.append(a.out)
        update_readme(a.readme, [load_result(f) for f in files])
        print("updated %s from %d result file(s)" % (a.readme, len(files)))
    print(markdown([doc]), end="")


@cli_entry("suite.py")
def main(argv=None):
    a = build_parser().parse_args(argv)
    if a.gpu and not cuda_available():
        print("suite.py: no CUDA device visible to torch; the GPU suite is skipped")
        return 0
    if a.data and not (a.checkpoint or a.bundled):
        raise SsdEdgeError("--data measures the mAP of real weights; expected --checkpoint "
                           "ARCH=PATH or --bundled with it, got only random-weight nets")
    from ssd_edge.bench.report import case_line
    from ssd_edge.bench.environment import capture_environment
    from ssd_edge.bench.runner import run_bench
    options = bench_options(a)
    label = a.label or capture_environment()["label"]
    a.out = a.out or os.path.join(RESULTS, "%s-%s.json" % ("gpu" if a.gpu else "cpu", slug(label)))
    work = a.work or tempfile.mkdtemp(prefix="ssd-edge-suite-")
    try:
        ckpts = checkpoints(a, work)
        models, scored = [], []
        calib = None if a.gpu else calibration(a, work)
        for path, real in ckpts:
            arts = [path] + ([] if a.gpu else export(path, calib, a, work))
            models += arts
            scored += arts if real else []
        command = "python benchmarks/suite.py " + " ".join(shlex.quote(x) for x in (
            sys.argv[1:] if argv is None else argv))
        doc = run_bench(models, options, command=command, label=label,
                        echo=lambda row: print(case_line(row), flush=True), map_paths=scored)
        doc["suite"] = {"models": [{"path": os.path.basename(p), "random_weights": not r}
                                   for p, r in ckpts],
                        "calibration": "given: %s" % a.calib if a.calib else
                        "generated synthetic scenes (%d)" % a.calib_count if calib else None}
        write_outputs(doc, a)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
