"""jetson/ssd-live.service: the template's promises, and systemd's own verdict on it."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "jetson", "ssd-live.service")


def entries(text):
    """systemd unit → [(section, key, value)] (keys may repeat, so no dict)."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key, value))
    return out


def render(tmp_path, venv):
    text = open(UNIT).read().replace("@USER@", "root").replace("@VENV@", str(venv))
    path = tmp_path / "ssd-live.service"
    path.write_text(text)
    return path, text


def test_unit_starts_at_boot_restarts_logs_to_journal_and_serves_headless(tmp_path):
    _, text = render(tmp_path, "/opt/venv")
    e = entries(text)
    get = lambda s, k: [v for sec, key, v in e if sec == s and key == k]   # noqa: E731
    assert get("Install", "WantedBy") == ["multi-user.target"]
    assert get("Service", "Restart") == ["on-failure"]
    assert get("Service", "StandardOutput") == ["journal"] == get("Service", "StandardError")
    cmd = get("Service", "ExecStart")[0].split()
    assert cmd[0] == "/opt/venv/bin/ssd-live"
    assert cmd[cmd.index("--serve") + 1] == "${SSD_LIVE_SERVE}" and "--headless" in cmd
    env = dict(v.strip('"').split("=", 1) for v in get("Service", "Environment"))
    assert env["SSD_LIVE_SERVE"] == "127.0.0.1:8080"
    assert "@" not in text, "a placeholder was left unfilled"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verify_accepts_the_rendered_unit(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    exe = venv / "bin" / "ssd-live"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    path, _ = render(tmp_path, venv)
    res = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                         text=True, timeout=60)
    ours = [ln for ln in (res.stdout + res.stderr).splitlines() if "ssd-live" in ln]
    assert res.returncode == 0 and not ours, res.stdout + res.stderr
    # The same check catches a wrong venv path.
    bad, _ = render(tmp_path, tmp_path / "missing")
    res = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode != 0 and "not executable" in res.stdout + res.stderr
