"""Fixtures for the Triton tests: the bundled model exported by ``ssd-export --triton`` (the
CLI, end to end) and a real ``tritonserver`` serving it on 127.0.0.1 (skipped where it cannot
run: see :mod:`tritonserver`)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tritonserver  # noqa: E402

from triton_testdata import BUNDLED, NAME  # noqa: E402


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``{"onnx": FP32 ONNX (dynamic batch), "repo": python-backend repository}`` written by
    ``ssd-export BUNDLED --triton REPO --triton-backend python --triton-name shapes``."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from ssd_edge.cli.export import main
    d = tmp_path_factory.mktemp("triton_export")
    repo = str(d / "repo")
    rc = main([BUNDLED, "--output-dir", str(d), "--triton", repo, "--triton-backend", "python",
               "--triton-name", NAME, "-q"])
    assert rc == 0
    return {"onnx": str(d / "shapes-mb2-ssd-lite.onnx"), "repo": repo, "dir": str(d)}


@pytest.fixture(scope="session")
def server(exported, tmp_path_factory):
    """A running tritonserver on ``exported["repo"]`` plus two models that must fail: one
    without ssd-edge's spec parameter and one that cannot load."""
    reason = tritonserver.serve_skip_reason()
    if reason:
        pytest.skip(reason)
    repo = exported["repo"]
    _add_foreign_models(repo)
    log = str(tmp_path_factory.mktemp("triton_log") / "server.log")
    with tritonserver.TritonServer(repo, tritonserver.ensure_env(), log) as s:
        yield s


def _add_foreign_models(repo):
    import shutil
    # "plain": the same network without ssd_edge parameters (someone else's export).
    src = os.path.join(repo, NAME)
    plain = os.path.join(repo, "plain")
    if not os.path.isdir(plain):
        shutil.copytree(src, plain)
        with open(os.path.join(src, "config.pbtxt")) as f:
            text = f.read().split("parameters {")[0]
        with open(os.path.join(plain, "config.pbtxt"), "w") as f:
            f.write(text.replace('name: "%s"' % NAME, 'name: "plain"'))
    # "broken": a python model whose model.py raises on load (state UNAVAILABLE).
    broken = os.path.join(repo, "broken")
    if not os.path.isdir(broken):
        shutil.copytree(src, broken)
        with open(os.path.join(broken, "config.pbtxt")) as f:
            text = f.read()
        with open(os.path.join(broken, "config.pbtxt"), "w") as f:
            f.write(text.replace('name: "%s"' % NAME, 'name: "broken"'))
        os.remove(os.path.join(broken, "1", "model.onnx"))
