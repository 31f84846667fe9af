#!/usr/bin/env bash
# Set up ssd-edge on a Jetson (JetPack 5.1, 6.x, 7.x): a virtual environment that sees JetPack's
# TensorRT and GStreamer-enabled OpenCV (never replaced), ssd-edge with the right extras,
# cuda-python matching the board's CUDA (else pycuda), then ssd-doctor.
#
#   jetson/setup.sh [--dry-run] [--venv DIR] [--python PATH] [--editable]
#
# Idempotent: an existing venv made with --system-site-packages is reused, pinned packages that
# are already there are left alone. --dry-run prints every command that would change something
# (and the read-only probes it ran) and changes nothing.
#
# Exit status: 0 done and ssd-doctor found no failure; 1 ssd-doctor reported a failure;
# 2 usage error; 3 not a Jetson or an unsupported JetPack (nothing changed);
# 4 a prerequisite is missing or the venv conflicts (nothing changed).
# Environment (for tests): SSD_EDGE_TEGRA_RELEASE overrides /etc/nv_tegra_release.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/.." && pwd)"
RELEASE_FILE="${SSD_EDGE_TEGRA_RELEASE:-/etc/nv_tegra_release}"
VENV="${HOME:-/root}/.venvs/ssd-edge"
PY=/usr/bin/python3
DRY_RUN=0
EDITABLE=0

say() { printf 'setup.sh: %s\n' "$*"; }
die() { local code=$1; shift; printf 'setup.sh: error: %s\n' "$*" >&2; exit "$code"; }

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --venv) [ $# -ge 2 ] || die 2 "--venv needs a folder"; VENV="$2"; shift ;;
        --python) [ $# -ge 2 ] || die 2 "--python needs a path"; PY="$2"; shift ;;
        --editable) EDITABLE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die 2 "unknown option $1 (expected --dry-run, --venv DIR, --python PATH, --editable)" ;;
    esac
    shift
done

# Print a command, then run it unless --dry-run.
run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

# ---------------------------------------------------------------- which board, which JetPack
if [ ! -e "$RELEASE_FILE" ]; then
    die 3 "not a Jetson: $RELEASE_FILE not found. Nothing was changed. On a desktop use" \
          "'pip install \"ssd-edge[export,ort,trt]\"' instead."
fi
[ -x "$PY" ] || die 4 "$PY not found; pass --python /path/to/JetPack's python3. Nothing was changed."
JP_INFO="$("$PY" "$SRC/ssd_edge/doctor/jetpack.py" --release-file "$RELEASE_FILE" --format shell)" \
    || die 3 "cannot read the L4T release from $RELEASE_FILE (see above). Nothing was changed."
eval "$JP_INFO"
say "L4T $L4T, JetPack $JETPACK (Python $JP_PYTHON, CUDA $JP_CUDA, TensorRT $JP_TENSORRT)"
if [ "$SUPPORTED" != 1 ]; then
    die 3 "JetPack $JETPACK (L4T $L4T) is not supported by this script: $JP_NOTE." \
          "Supported: JetPack 5.1.x, 6.x, 7.x (see jetson/README.md). Nothing was changed."
fi

# ---------------------------------------------------------------- read-only probes
PY_VER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$PY_VER" != "$JP_PYTHON" ]; then
    say "warning: $PY is Python $PY_VER but JetPack $JETPACK's TensorRT bindings are built for" \
        "Python $JP_PYTHON; they will not import in this venv (pass --python with JetPack's own python3)"
fi
"$PY" -c 'import venv, ensurepip' 2>/dev/null \
    || die 4 "$PY cannot create venvs; run: sudo apt-get install python3-venv. Nothing was changed."
if "$PY" -c 'import tensorrt' 2>/dev/null; then
    say "JetPack TensorRT: $("$PY" -c 'import tensorrt; print(tensorrt.__version__)')"
else
    say "warning: JetPack's TensorRT Python bindings are missing from $PY;" \
        "run: sudo apt-get install python3-libnvinfer (engine builds and the trt backend need them)"
fi
if "$PY" -c 'import cv2, re, sys
sys.exit(not re.search(r"GStreamer:\s*(YES|\n\s*base:\s*YES)", cv2.getBuildInformation()))' 2>/dev/null; then
    say "JetPack OpenCV with GStreamer: $("$PY" -c 'import cv2; print(cv2.__version__)')"
else
    say "warning: no GStreamer-enabled OpenCV in $PY; run: sudo apt-get install python3-opencv" \
        "(CSI cameras and hardware RTSP decoding need it)"
fi

# ---------------------------------------------------------------- the venv
if [ -e "$VENV/pyvenv.cfg" ]; then
    if grep -Eq '^include-system-site-packages *= *true' "$VENV/pyvenv.cfg"; then
        say "reusing $VENV (made with --system-site-packages)"
    else
        die 4 "$VENV exists but was made without --system-site-packages, so JetPack's TensorRT" \
              "and OpenCV are invisible in it; remove it or pass --venv OTHER. Nothing was changed."
    fi
elif [ -e "$VENV" ]; then
    die 4 "$VENV exists and is not a venv; pass --venv OTHER. Nothing was changed."
else
    run "$PY" -m venv --system-site-packages "$VENV"
fi
VPY="$VENV/bin/python"

# ---------------------------------------------------------------- ssd-edge and its extras
# pip >= 20.3 understands the manylinux_2_28 wheels (onnxruntime, cuda-python) on aarch64.
run "$VPY" -m pip install --upgrade "pip>=20.3"
# numpy<2: JetPack's OpenCV and TensorRT bindings are built against numpy 1.x. No OpenCV extra:
# a pip OpenCV would shadow JetPack's GStreamer build.
if [ "$EDITABLE" -eq 1 ]; then
    run "$VPY" -m pip install -e "$SRC[ort]" "numpy>=1.19,<2"
else
    run "$VPY" -m pip install "$SRC[ort]" "numpy>=1.19,<2"
fi

# ---------------------------------------------------------------- CUDA from Python
CUDA_PYTHON_CHECK='
try:
    from cuda.bindings import runtime as cudart
except ImportError:
    from cuda import cudart
err, n = cudart.cudaGetDeviceCount()
raise SystemExit(0 if int(err) == 0 and n > 0 else 1)'
PYCUDA_CHECK='import pycuda.driver as d; d.init(); raise SystemExit(0 if d.Device.count() > 0 else 1)'
cuda_python_works() { [ -x "$VPY" ] && "$VPY" -c "$CUDA_PYTHON_CHECK" >/dev/null 2>&1; }
pycuda_works() { [ -x "$VPY" ] && "$VPY" -c "$PYCUDA_CHECK" >/dev/null 2>&1; }
install_pycuda() {
    # pycuda compiles against the board's CUDA: nvcc must be on PATH.
    say "(with CUDA_ROOT=/usr/local/cuda and /usr/local/cuda/bin on PATH, for nvcc)"
    PATH="/usr/local/cuda/bin:$PATH" CUDA_ROOT=/usr/local/cuda run "$VPY" -m pip install pycuda
}

if cuda_python_works; then
    say "cuda-python already works in $VENV"
elif pycuda_works; then
    say "pycuda already works in $VENV"
elif [ -n "$JP_CUDA_PYTHON" ]; then
    run "$VPY" -m pip install "$JP_CUDA_PYTHON"
    if [ "$DRY_RUN" -eq 1 ]; then
        say "then, if cuda-python cannot reach the GPU on this board:"
        run "$VPY" -m pip uninstall -y cuda-python cuda-bindings
        install_pycuda
    elif ! cuda_python_works; then
        say "$JP_CUDA_PYTHON cannot reach the GPU here; falling back to pycuda"
        run "$VPY" -m pip uninstall -y cuda-python cuda-bindings
        install_pycuda
    fi
else
    install_pycuda
fi

# ---------------------------------------------------------------- the verdict
say "done; activate with: source $VENV/bin/activate"
if [ "$DRY_RUN" -eq 1 ]; then
    run "$VENV/bin/ssd-doctor"
    say "dry run: nothing was changed"
    exit 0
fi
rc=0
run "$VENV/bin/ssd-doctor" || rc=$?
[ "$rc" -eq 0 ] || say "ssd-doctor reported a failure (see the fail lines above)"
exit "$rc"
