"""The fd-2 filter of a live run (ssd_edge.stderrfilter) on real file descriptors and processes:
C-level writes to fd 2 (ctypes' libc ``write``, ``os.write``, a child process, OpenCV's own
libjpeg and libpng) while Python prints."""
import os
import subprocess
import sys
import time

import pytest

from ssd_edge import stderrfilter
from ssd_edge.stderrfilter import StderrFilter, filtered_stderr, summary_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
posix = pytest.mark.skipif(not stderrfilter.SUPPORTED, reason="the filter is POSIX only")

# A process: 4 threads write lines to fd 2 from C while the main thread prints from Python.
CHILD = r'''
import ctypes, os, sys, threading
from ssd_edge.stderrfilter import filtered_stderr, summary_line
libc = ctypes.CDLL(None)
def c_lines(t):
    for i in range(300):
        for line in (b"Corrupt JPEG data: %d extraneous bytes before marker 0xdb\n" % i,
                     b"kept t%d i%d \xff\r\n" % (t, i),
                     b"libpng warning: iCCP: known incorrect sRGB profile\n",
                     # one write: a repeat line follows its message
                     b"[h264 @ 0x55d0a1b2c3d0] error while decoding MB 3 4\n"
                     b"    Last message repeated 2 times\n"):
            libc.write(2, line, len(line))
with filtered_stderr() as f:
    threads = [threading.Thread(target=c_lines, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for i in range(300):
        print("python line %d" % i, file=sys.stderr)
    for t in threads:
        t.join()
    os.write(2, b"no newline at the end")
print("\n" + summary_line("prog", f), file=sys.stderr)
'''


def _run(code, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("SSD_EDGE_DEBUG", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                          cwd=ROOT, env=env, **kw)


@posix
def test_c_noise_dropped_other_c_lines_forwarded_byte_exact_while_python_prints():
    proc = _run(CHILD)
    err = proc.stderr
    assert proc.returncode == 0, err
    lines = err.split(b"\n")
    for t in range(4):
        for i in range(300):
            assert lines.count(b"kept t%d i%d \xff\r" % (t, i)) == 1, (t, i)
    for i in range(300):                            # Python's lines: once each, never torn
        assert lines.count(b"python line %d" % i) == 1
    body = b"\n".join(lines[:-2])
    assert b"Corrupt JPEG" not in body and b"libpng" not in body and b"h264" not in body
    assert b"Last message repeated" not in body
    assert b"no newline at the end\n" in err        # the last partial line is not lost
    assert lines[-2] == (b"prog: 3600 decoder messages about corrupt frames suppressed "
                         b"(libjpeg 1200, libpng 1200, ffmpeg 1200); set SSD_EDGE_DEBUG=1 "
                         b"to see them")
    assert len(lines) == 4 * 300 + 300 + 3          # nothing else, nothing twice


@posix
def test_restored_after_an_exception_with_the_last_lines(capfd):
    before = os.fstat(2)
    stderr = sys.stderr
    with pytest.raises(RuntimeError):
        with filtered_stderr() as f:
            assert f.active and os.fstat(2).st_ino != before.st_ino      # fd 2 is the pipe
            os.write(2, b"libpng error: IHDR: CRC error\nlast words")
            raise RuntimeError("boom")
    assert not f.active and sys.stderr is stderr
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    assert capfd.readouterr().err == "last words"
    assert f.counts["libpng"] == 1 and stderrfilter.suppressed() == 1


@posix
def test_real_opencv_decodes_are_filtered(capfd):
    cv2 = pytest.importorskip("cv2")
    import numpy as np
    img = np.full((32, 32, 3), 120, np.uint8)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    end = 4 + int.from_bytes(jpeg[4:6], "big")
    png = bytearray(cv2.imencode(".png", img)[1].tobytes())
    png[29] ^= 0xFF
    with filtered_stderr() as f:
        ok = cv2.imdecode(np.frombuffer(jpeg[:end] + b"\0" * 5 + jpeg[end:], np.uint8), 1)
        bad = cv2.imdecode(np.frombuffer(bytes(png), np.uint8), 1)
        os.write(2, b"still here\n")
    assert ok is not None and bad is None
    assert capfd.readouterr().err == "still here\n"
    assert f.counts == {"libjpeg": 1, "libpng": 1, "ffmpeg": 0}


@posix
def test_a_child_holding_the_pipe_does_not_hold_up_the_exit(capfd):
    with filtered_stderr():
        child = subprocess.Popen(["sh", "-c", "sleep 2; echo late >&2"])
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 3.5
    child.wait(10)
    deadline = time.monotonic() + 5
    err = ""
    while "late" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    assert err == "late\n"                 # the pump forwarded it once the child wrote it


def test_nothing_happens_without_fd_2_or_off_posix(monkeypatch):
    proc = _run("import os\nos.close(2)\nfrom ssd_edge.stderrfilter import StderrFilter\n"
                "f = StderrFilter()\nprint(f.start(), f.active)\nf.stop()\n")
    assert proc.returncode == 0 and proc.stdout.split() == [b"False", b"False"], proc.stderr
    monkeypatch.setattr(stderrfilter, "SUPPORTED", False)
    fd2 = os.fstat(2)
    with filtered_stderr() as f:
        assert not f.active and os.fstat(2).st_ino == fd2.st_ino
    assert summary_line("p", f) is None


@posix
def test_one_filter_per_process():
    with filtered_stderr() as outer:
        inner = StderrFilter()
        assert outer.active and not inner.start()


def test_noise_patterns():
    f = StderrFilter()
    noise = [b"Corrupt JPEG data: premature end of data segment", b"Premature end of JPEG file",
             b"libpng warning: iCCP: known incorrect sRGB profile",
             b"libpng error: Read Error", b"[hevc @ 0x7f3a1c004a80] Could not find ref with POC 3"]
    kept = [b"ssd-live: lost http://cam/video", b"[rtsp @ 0x55d0a1b2c3d0] method DESCRIBE "
            b"failed: 401 Unauthorized", b"Traceback (most recent call last):",
            b"    Last message repeated 2 times", b"a line about Corrupt JPEG data: in the middle"]
    assert all(f._is_noise(ln) for ln in noise)
    f._after_noise = False
    assert not any(f._is_noise(ln) for ln in kept)
    assert f.counts == {"libjpeg": 2, "libpng": 2, "ffmpeg": 1}
