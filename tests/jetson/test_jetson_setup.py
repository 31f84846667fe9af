"""jetson/setup.sh --dry-run against fake /etc/nv_tegra_release files (bash from pytest)."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETUP = os.path.join(ROOT, "jetson", "setup.sh")
PY = shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or PY is None,
                                reason="needs bash and a python3")

RELEASES = {
    "5.1.1": ("# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64, "
              "DATE: Sun Mar 19 15:19:21 UTC 2023", "cuda-python==11.8.*", "3.8"),
    "6.0": ("# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, "
            "DATE: Mon May  6 17:34:21 UTC 2024", "cuda-python==12.2.*", "3.10"),
    "6.2": ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
            "DATE: Wed Jan  8 01:49:37 UTC 2025", "cuda-python==12.6.*", "3.10"),
    "7.0": ("# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, "
            "DATE: Fri Aug 22 00:00:00 UTC 2025", "cuda-python==13.0.*", "3.12"),
}


def snapshot(folder):
    out = {}
    for dirpath, dirnames, filenames in os.walk(str(folder)):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def fake_release(tmp_path, text):
    """Write a fake /etc/nv_tegra_release (None: the file is absent, as on a desktop)."""
    rel = tmp_path / "nv_tegra_release"
    if text is not None and not rel.exists():
        rel.write_text(text + "\n")
    return rel


def run_setup(tmp_path, release_text, *args):
    rel = fake_release(tmp_path, release_text)
    env = dict(os.environ, SSD_EDGE_TEGRA_RELEASE=str(rel), HOME=str(tmp_path / "home"))
    return subprocess.run(["bash", SETUP, "--python", PY] + list(args), env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("jetpack", sorted(RELEASES))
def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path, jetpack):
    text, cuda_python, python = RELEASES[jetpack]
    venv = tmp_path / "venv"
    fake_release(tmp_path, text)
    before = snapshot(tmp_path)
    out = run_setup(tmp_path, text, "--dry-run", "--venv", str(venv))
    assert out.returncode == 0, out.stderr
    assert snapshot(tmp_path) == before, "dry run changed files"
    lines = out.stdout.splitlines()
    cmds = [ln[2:] for ln in lines if ln.startswith("+ ")]
    assert "JetPack %s (Python %s," % (jetpack, python) in out.stdout
    assert cmds[0] == "%s -m venv --system-site-packages %s" % (PY, venv)
    vpy = "%s/bin/python -m pip install " % venv
    assert cmds[1] == vpy + "--upgrade pip\\>=20.3"
    assert cmds[2] == vpy + "%s\\[ort\\] numpy\\>=1.19\\,\\<2" % ROOT
    assert cmds[3] == vpy + cuda_python.replace("*", "\\*")
    assert cmds[-2] == vpy + "pycuda"                      # the documented fallback
    assert cmds[-1] == "%s/bin/ssd-doctor" % venv
    assert not any("opencv" in c for c in cmds), "never pip-install OpenCV over JetPack's"
    assert lines[-1] == "setup.sh: dry run: nothing was changed"


def test_existing_system_site_venv_is_reused(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
    out = run_setup(tmp_path, RELEASES["6.0"][0], "--dry-run", "--venv", str(venv))
    assert out.returncode == 0, out.stderr
    assert "reusing %s" % venv in out.stdout
    assert "-m venv" not in out.stdout


def test_venv_without_system_site_packages_is_refused(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("include-system-site-packages = false\n")
    fake_release(tmp_path, RELEASES["6.0"][0])
    before = snapshot(tmp_path)
    out = run_setup(tmp_path, RELEASES["6.0"][0], "--venv", str(venv))     # not a dry run
    assert out.returncode == 4
    assert "without --system-site-packages" in out.stderr and "Nothing was changed" in out.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("text,expect", [
    ("# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64",
     "JetPack 4.6.x (L4T 32.7.4) is not supported"),
    ("# R35 (release), REVISION: 1.0, GCID: 31346300, BOARD: t186ref, EABI: aarch64",
     "JetPack 5.0.2 (L4T 35.1.0) is not supported"),
    ("# R30 (release), REVISION: 0.0", "JetPack unknown (L4T 30.0.0) is not supported"),
    ("this is not a release line", "cannot read the L4T release"),
])
def test_unsupported_jetpack_changes_nothing(tmp_path, text, expect):
    fake_release(tmp_path, text)
    before = snapshot(tmp_path)
    out = run_setup(tmp_path, text, "--venv", str(tmp_path / "venv"))       # not a dry run
    assert out.returncode == 3, out.stdout + out.stderr
    assert expect in out.stderr and "+ " not in out.stdout
    after = snapshot(tmp_path)
    assert after == before


def test_non_jetson_changes_nothing(tmp_path):
    before = snapshot(tmp_path)
    out = run_setup(tmp_path, None, "--venv", str(tmp_path / "venv"))
    assert out.returncode == 3
    assert "not a Jetson" in out.stderr and "Nothing was changed" in out.stderr
    assert snapshot(tmp_path) == before


def test_usage_errors(tmp_path):
    out = run_setup(tmp_path, RELEASES["6.0"][0], "--bogus")
    assert out.returncode == 2 and "unknown option --bogus" in out.stderr
    help_out = run_setup(tmp_path, RELEASES["6.0"][0], "--help")
    assert help_out.returncode == 0 and "--dry-run" in help_out.stdout
