"""Platform checks: which machine (Jetson module or not), which L4T / JetPack, which Python.

These run first; they fill ``facts`` (``jetson``, ``model``, ``jetpack_line``) which later checks
use to decide between "missing on a Jetson: fail" and "not needed here: ok".
"""
import platform as _platform

from .core import FAIL, OK, WARN, Verdict, read_text
from .jetpack import jetpack_for, l4t_string, parse_release

MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
RELEASE_FILE = "/etc/nv_tegra_release"

# Module family → (GPU, compute capability, DLA cores as NVIDIA's DLA FAQ lists them).
# Checked in order, so "Orin Nano" is matched before "Orin".
FAMILIES = (
    ("Thor", "Blackwell iGPU", "11.0", 0),
    ("Orin Nano", "Ampere iGPU", "8.7", 0),
    ("Orin NX", "Ampere iGPU", "8.7", "1-2"),      # 8 GB: 1, 16 GB: 2; the model string is the same
    ("Orin", "Ampere iGPU", "8.7", 2),
    ("Xavier", "Volta iGPU", "7.2", 2),
    ("TX2", "Pascal iGPU", "6.2", 0),
    ("Nano", "Maxwell iGPU", "5.3", 0),
    ("TX1", "Maxwell iGPU", "5.3", 0),
)


def family_of(model):
    """Return ``(name, gpu, compute_capability, dla_cores)`` for a Jetson model string, or None."""
    for name, gpu, cc, dla in FAMILIES:
        if name.lower() in (model or "").lower():
            return name, gpu, cc, dla
    return None


def check_platform(env, facts):
    model, why = None, None
    for path in MODEL_FILES:
        model, why = read_text(env, path)
        if model is not None or why != "missing":
            break
    has_release = read_text(env, RELEASE_FILE)[1] != "missing"
    jetson = bool(model and "jetson" in model.lower()) or has_release
    facts.update(jetson=jetson, model=model or "")
    machine = "%s, %s %s" % (_platform.machine() or "unknown CPU", _platform.system(),
                             _platform.release())
    data = {"jetson": jetson, "model": model, "machine": machine}
    if not jetson:
        if why not in (None, "missing"):
            return [Verdict("platform", WARN, "device-tree model %s; assuming not a Jetson (%s)"
                            % (why, machine), "run ssd-doctor as a user who can read "
                            "/proc/device-tree/model", data)]
        what = "not a Jetson (%s%s)" % (machine, "; board: %s" % model if model else "")
        return [Verdict("platform", OK, what + "; Jetson-only checks are skipped", None, data)]
    fam = family_of(model)
    if fam:
        data.update(family=fam[0], gpu=fam[1], compute_capability=fam[2], dla_cores=fam[3])
        facts.update(family=fam[0], family_gpu=fam[1], family_cc=fam[2])
        finding = "%s (%s, compute %s, %s DLA core%s)" % (model, fam[1], fam[2], fam[3],
                                                         "" if fam[3] == 1 else "s")
    else:
        finding = "%s (module family not in ssd-edge's table)" % (model or "Jetson, model unreadable")
    return [Verdict("platform", OK, finding, None, data)]


def check_jetpack(env, facts):
    if not facts.get("jetson"):
        return [Verdict("jetpack", OK, "not a Jetson; skipped")]
    text, why = read_text(env, RELEASE_FILE)
    if text is None:
        return [Verdict("jetpack", WARN, "%s %s; the L4T release is unknown" % (RELEASE_FILE, why),
                        "check the JetPack install (`dpkg -l nvidia-l4t-core`)")]
    rel = parse_release(text)
    if rel is None:
        return [Verdict("jetpack", WARN, "%s does not hold an L4T release line" % RELEASE_FILE,
                        "check the JetPack install (`dpkg -l nvidia-l4t-core`)",
                        {"text": text[:200]})]
    version, line = jetpack_for(rel)
    data = {"l4t": l4t_string(rel), "board": rel.board, "jetpack": version}
    if line is None:
        return [Verdict("jetpack", WARN, "L4T %s is not in ssd-edge's JetPack table"
                        % l4t_string(rel), "see jetson/README.md for the supported lines", data)]
    facts["jetpack_line"] = line
    data.update(line=line.line, python=line.python, cuda=line.cuda, tensorrt=line.tensorrt)
    finding = "L4T %s = JetPack %s (Python %s, CUDA %s, TensorRT %s)" % (
        l4t_string(rel), version, line.python, line.cuda, line.tensorrt)
    if line.supported:
        return [Verdict("jetpack", OK, finding, None, data)]
    return [Verdict("jetpack", FAIL, finding + ": not supported by ssd-edge",
                    line.note or "upgrade JetPack (see jetson/README.md)", data)]


def check_python(env, facts):
    ver = ".".join(str(v) for v in env.python_version)
    in_venv = env.prefix != env.base_prefix
    data = {"version": ver, "venv": in_venv, "prefix": env.prefix}
    if tuple(env.python_version[:2]) < (3, 8):
        return [Verdict("python", FAIL, "Python %s; ssd-edge needs 3.8 or newer" % ver,
                        "use JetPack 5.1+ (Python 3.8) or export on a desktop", data)]
    line = facts.get("jetpack_line")
    if line is not None and ver.rsplit(".", 1)[0] != line.python:
        return [Verdict("python", WARN, "Python %s, but JetPack %s's TensorRT and OpenCV bindings "
                        "are built for Python %s" % (ver, line.line, line.python),
                        "create the venv from the system python3 (jetson/setup.sh does)", data)]
    if facts.get("jetson") and in_venv:
        cfg, _ = read_text(env, env.prefix.rstrip("/") + "/pyvenv.cfg")
        if cfg is not None and "include-system-site-packages = false" in cfg.replace("\t", " "):
            return [Verdict("python", WARN, "Python %s in a venv without system site packages: "
                            "JetPack's TensorRT and GStreamer OpenCV are invisible" % ver,
                            "recreate it with `python3 -m venv --system-site-packages` "
                            "(jetson/setup.sh does)", data)]
    return [Verdict("python", OK, "Python %s%s" % (ver, " (venv %s)" % env.prefix if in_venv
                                                   else ""), None, data)]

