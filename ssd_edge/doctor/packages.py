"""Python package checks: numpy, OpenCV (with its GStreamer and CUDA build flags), ONNX Runtime,
and which registered inference backends have their package here."""
import re

from ..runtime.backends.registry import RECORDS
from .core import FAIL, OK, WARN, Verdict, try_import, version_of, version_tuple

JETSON_CV_FIX = ("use JetPack's GStreamer-enabled OpenCV: `pip uninstall opencv-python "
                 "opencv-python-headless` inside a venv made with --system-site-packages")


def check_numpy(env, facts):
    np, why = try_import(env, "numpy")
    if np is None:
        return [Verdict("numpy", FAIL, "numpy " + why, "pip install \"numpy>=1.19\"")]
    ver = version_of(np)
    data = {"version": ver}
    if version_tuple(ver)[:2] < (1, 19):
        return [Verdict("numpy", FAIL, "numpy %s; ssd-edge needs 1.19 or newer" % ver,
                        "pip install \"numpy>=1.19,<2\"", data)]
    if facts.get("jetson") and version_tuple(ver)[:1] >= (2,):
        return [Verdict("numpy", WARN, "numpy %s; JetPack's OpenCV and TensorRT bindings are "
                        "built against numpy 1.x" % ver, "pip install \"numpy<2\"", data)]
    return [Verdict("numpy", OK, "numpy %s" % ver, None, data)]


def opencv_build_flags(info):
    """Parse ``cv2.getBuildInformation()``.

    Returns ``{"gstreamer": "1.16.3" | "" (absent) , "cuda": "11.4" | "" (absent)}``; a YES
    without a version gives ``"yes"``.
    """
    flags = {}
    # OpenCV >= 4.2 prints "GStreamer: YES (1.16.3)"; 3.x-4.1 (JetPack 4) prints "GStreamer:"
    # and then "base: YES (ver 1.14.5)" on the next line.
    value = r"[ \t]*(YES|NO)[ \t]*(?:\(([^)]*)\))?"
    for key, pattern in (("gstreamer", r"^[ \t]*GStreamer:(?:[ \t]*\n[ \t]*base:)?" + value),
                         ("cuda", r"^[ \t]*NVIDIA CUDA:" + value)):
        m = re.search(pattern, info or "", re.MULTILINE)
        if not m or m.group(1) == "NO":
            flags[key] = ""
            continue
        detail = (m.group(2) or "").strip()
        ver = re.search(r"\d+(?:\.\d+)+", detail)
        flags[key] = ver.group(0) if ver else "yes"
    return flags


def check_opencv(env, facts):
    jetson = facts.get("jetson")
    cv2, why = try_import(env, "cv2")
    if cv2 is None:
        fix = JETSON_CV_FIX if jetson else "pip install \"ssd-edge[cv]\""
        return [Verdict("opencv", WARN, "OpenCV " + why + "; cameras, video and ssd-live need it",
                        fix)]
    ver = version_of(cv2)
    try:
        flags = opencv_build_flags(cv2.getBuildInformation())
    except Exception as e:  # noqa: BLE001 - a broken cv2 must not stop the report
        return [Verdict("opencv", WARN, "OpenCV %s; build information unreadable (%s)" % (ver, e))]
    data = dict(flags, version=ver, path=str(getattr(cv2, "__file__", "")))
    gst = "GStreamer %s" % flags["gstreamer"] if flags["gstreamer"] else "no GStreamer"
    cuda = "CUDA %s" % flags["cuda"] if flags["cuda"] else "no CUDA"
    finding = "OpenCV %s (%s, %s)" % (ver, gst, cuda)
    if not flags["gstreamer"]:
        if jetson:
            return [Verdict("opencv", WARN, finding + ": CSI cameras (nvarguscamerasrc) and "
                            "hardware-decoded RTSP need GStreamer", JETSON_CV_FIX, data)]
        return [Verdict("opencv", OK, finding + "; gst:// and csi:// sources need a GStreamer "
                        "build", None, data)]
    return [Verdict("opencv", OK, finding, None, data)]


def check_onnxruntime(env, facts):
    ort, why = try_import(env, "onnxruntime")
    if ort is None:
        return [Verdict("onnxruntime", WARN, "onnxruntime " + why + "; the ort backend is "
                        "unavailable", "pip install \"ssd-edge[ort]\"")]
    ver = version_of(ort)
    try:
        providers = list(ort.get_available_providers())
    except Exception as e:  # noqa: BLE001
        return [Verdict("onnxruntime", WARN, "onnxruntime %s; providers unreadable (%s)"
                        % (ver, e), None, {"version": ver})]
    data = {"version": ver, "providers": providers}
    short = ", ".join(p.replace("ExecutionProvider", "") for p in providers) or "none"
    return [Verdict("onnxruntime", OK, "onnxruntime %s (providers: %s)" % (ver, short), None,
                    data)]


def check_backends(env, facts):
    """One line for every backend in the registry: installed or not (no backend is imported)."""
    have = [r.name for r in RECORDS if env.has_module(r.package)]
    missing = [r.name if r.missing else "%s (pip install \"ssd-edge[%s]\")" % (r.name, r.extra)
               for r in RECORDS if r.name not in have]
    data = {"installed": have, "missing": [r.name for r in RECORDS if r.name not in have]}
    finding = "backends installed: %s" % (", ".join(have) or "none")
    if missing:
        finding += "; not installed: %s" % ", ".join(missing)
    if not have:
        return [Verdict("backends", FAIL, finding + "; nothing can run a model",
                        "pip install \"ssd-edge[ort]\"", data)]
    return [Verdict("backends", OK, finding, None, data)]
