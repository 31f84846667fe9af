"""L4T release → JetPack line, with the versions each line ships.

This one table serves ``ssd-doctor`` and ``jetson/setup.sh`` (which runs this file with the
board's system ``python3``, so it must stay stdlib-only and parse on Python 3.6: JetPack 4.6
boards only get as far as the "unsupported" message, but they get it).

Facts come from NVIDIA's JetPack / L4T release pages (cross-checked against the L4T → JetPack
mapping that dusty-nv/jetson-containers keeps in l4t_version.py).

As a script::

    python3 jetpack.py [--release-file /etc/nv_tegra_release] [--format shell|text]

prints ``KEY='value'`` lines for ``eval`` in a shell, or a one-line summary; exit 3 when the file is
missing or unparsable.
"""
import collections
import re
import sys

DEFAULT_RELEASE_FILE = "/etc/nv_tegra_release"

# One row per JetPack line. ``cuda_python`` is the pip requirement matching the board's CUDA
# (PyPI has no cuda-python older than 11.8, so CUDA 11.4 boards get 11.8 and setup.sh verifies it
# at runtime, falling back to pycuda); None means pycuda is the only option.
JetPackLine = collections.namedtuple(
    "JetPackLine", "line supported ubuntu python cuda tensorrt cuda_python modules note")

LINES = {
    "4.6": JetPackLine("4.6", False, "18.04", "3.6", "10.2", "8.0.1 / 8.2.1", None,
                       "Nano, TX1, TX2, Xavier",
                       "last JetPack for Nano/TX1/TX2; Python 3.6 is below ssd-edge's 3.8: export "
                       "on a desktop and run the detectnet-compatible ONNX with jetson-inference"),
    "5.0": JetPackLine("5.0", False, "20.04", "3.8", "11.4", "8.4.1", "cuda-python==11.8.*",
                       "AGX Orin, Xavier", "developer preview; upgrade to JetPack 5.1.x"),
    "5.1": JetPackLine("5.1", True, "20.04", "3.8", "11.4", "8.5.2", "cuda-python==11.8.*",
                       "Orin (AGX, NX, Nano), Xavier (AGX, NX)", ""),
    "6.0": JetPackLine("6.0", True, "22.04", "3.10", "12.2", "8.6.2", "cuda-python==12.2.*",
                       "Orin only", ""),
    "6.1": JetPackLine("6.1", True, "22.04", "3.10", "12.6", "10.3", "cuda-python==12.6.*",
                       "Orin only", ""),
    "6.2": JetPackLine("6.2", True, "22.04", "3.10", "12.6", "10.3", "cuda-python==12.6.*",
                       "Orin only (adds Super modes)", ""),
    "7.0": JetPackLine("7.0", True, "24.04", "3.12", "13.0", "10.13", "cuda-python==13.0.*",
                       "Thor only", "Thor has no DLA"),
    "7.1": JetPackLine("7.1", True, "24.04", "3.12", "13.0", "10.13", "cuda-python==13.0.*",
                       "Thor only", "Thor has no DLA"),
    "7.2": JetPackLine("7.2", True, "24.04", "3.12", "13.2", "10.16", "cuda-python==13.2.*",
                       "Thor and Orin (SBSA stack)", "not yet in the reference for every module"),
}

# (major, minor, patch) of L4T → exact JetPack release; patch None = any patch of that minor.
_RELEASES = [
    ((32, 6, None), "4.6", "4.6"), ((32, 7, None), "4.6", "4.6.x"),
    ((35, 1, None), "5.0", "5.0.2"), ((35, 2, None), "5.1", "5.1"),
    ((35, 3, None), "5.1", "5.1.1"), ((35, 4, None), "5.1", "5.1.2"),
    ((35, 5, None), "5.1", "5.1.3"), ((35, 6, None), "5.1", "5.1.4+"),
    ((36, 2, None), "6.0", "6.0 DP"), ((36, 3, None), "6.0", "6.0"),
    ((36, 4, 0), "6.1", "6.1"), ((36, 4, 3), "6.2", "6.2"), ((36, 4, 4), "6.2", "6.2.1"),
    ((36, 4, None), "6.1", "6.1/6.2"), ((36, 5, None), "6.2", "6.2.2"),
    ((38, 2, None), "7.0", "7.0"), ((38, 4, None), "7.1", "7.1"), ((39, None, None), "7.2", "7.2"),
]

L4TRelease = collections.namedtuple("L4TRelease", "major minor patch board")


def parse_release(text):
    """Parse ``/etc/nv_tegra_release`` text, e.g.
    ``# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64, ...``.

    Returns an :class:`L4TRelease` (``35, 3, 1, "t186ref"``) or None when the text does not look
    like an L4T release line.
    """
    m = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?", text or "")
    if not m:
        return None
    board = re.search(r"BOARD:\s*([^,\s]+)", text)
    return L4TRelease(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0),
                      board.group(1) if board else "")


def jetpack_for(release):
    """Return ``(jetpack_version, JetPackLine)`` for an :class:`L4TRelease`, or ``(None, None)``."""
    key = (release.major, release.minor, release.patch)
    for (maj, mnr, pat), line, version in _RELEASES:
        if maj == key[0] and mnr in (None, key[1]) and pat in (None, key[2]):
            return version, LINES[line]
    return None, None


def l4t_string(release):
    return "%d.%d.%d" % (release.major, release.minor, release.patch)


def _shell_quote(value):
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    path, fmt = DEFAULT_RELEASE_FILE, "text"
    while args:
        flag = args.pop(0)
        if flag == "--release-file" and args:
            path = args.pop(0)
        elif flag == "--format" and args and args[0] in ("shell", "text"):
            fmt = args.pop(0)
        else:
            sys.stderr.write("usage: jetpack.py [--release-file PATH] [--format shell|text]\n")
            return 2
    try:
        with open(path, "r") as f:
            text = f.read()
    except (IOError, OSError) as e:
        sys.stderr.write("cannot read %s: %s\n" % (path, e.strerror or e))
        return 3
    rel = parse_release(text)
    if rel is None:
        sys.stderr.write("%s does not hold an L4T release line (got %r)\n" % (path, text[:80]))
        return 3
    version, line = jetpack_for(rel)
    fields = collections.OrderedDict([
        ("L4T", l4t_string(rel)), ("BOARD", rel.board), ("JETPACK", version or "unknown"),
        ("JP_LINE", line.line if line else "unknown"),
        ("SUPPORTED", "1" if line and line.supported else "0"),
        ("JP_PYTHON", line.python if line else ""), ("JP_CUDA", line.cuda if line else ""),
        ("JP_TENSORRT", line.tensorrt if line else ""),
        ("JP_CUDA_PYTHON", (line.cuda_python or "") if line else ""),
        ("JP_NOTE", line.note if line else "L4T %s is not in ssd-edge's table" % l4t_string(rel)),
    ])
    for key, value in fields.items():
        if fmt == "shell":
            print("%s=%s" % (key, _shell_quote(value)))
        else:
            print("%s: %s" % (key, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
