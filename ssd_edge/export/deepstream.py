"""DeepStream bridge: what ``ssd-export --deepstream`` writes beside an ONNX.

``write_deepstream(onnx_path, spec, out_dir, precision)`` writes, all derived from the
:class:`DetectorSpec`:

* ``config_infer_primary_ssd_edge.txt`` — the ``nvinfer`` config (ONNX, labels, preprocessing,
  network mode, class count, clustering, thresholds, the custom parser);
* ``labels.txt`` — one label per line, line 0 ``BACKGROUND`` (class ids index it);
* ``nvdsparsebbox_ssd_edge.cpp`` and ``Makefile`` — the custom box parser and its build against
  the DeepStream headers on the device (thresholds baked in from the spec);
* ``deepstream_app_ssd_edge.txt`` — a ``deepstream-app`` config running it on a camera.

Preprocessing: nvinfer computes ``y = net-scale-factor * (x - offsets[c])`` with ONE scale for all
channels; the spec says ``y = (x - mean[c]) / std[c]``. So ``offsets = mean``,
``net-scale-factor = 1 / std``, which exists only when the three std values are equal; otherwise
:class:`SsdEdgeError`. Frames are stretched to the network size (``maintain-aspect-ratio=0``,
bilinear), as ``cv2.resize`` does in ssd-edge.

Post-processing: for the ``decoded`` layout (``scores``/``boxes``) the parser runs the Predictor's
NMS itself, so DeepStream gives the detections ``ssd_edge.postprocess`` gives; ``cluster-mode=2``
with the same IoU re-checks and removes nothing. For the ``nms`` layout (NMS in the graph) the
parser copies the graph's detections and clustering is off (``cluster-mode=4``).
"""
import math
import os

from ..contract import DECODED_OUTPUTS, NMS_OUTPUTS
from ..errors import SsdEdgeError
from ..fileio import atomic_write_text, disk_errors

PARSER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deepstream_parser")
PARSER_SOURCE = "nvdsparsebbox_ssd_edge.cpp"
PARSER_LIB = "libnvds_ssd_edge_parser.so"
INFER_CONFIG = "config_infer_primary_ssd_edge.txt"
APP_CONFIG = "deepstream_app_ssd_edge.txt"
LABELS = "labels.txt"

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}        # nvinfer's network-mode values
COLOR_FORMAT = {"RGB": 0, "BGR": 1}                     # nvinfer's model-color-format values
# layout -> (output blob names, parser function, cluster-mode)
LAYOUTS = {
    "decoded": (DECODED_OUTPUTS, "NvDsInferParseSsdEdge", 2),
    "nms": (NMS_OUTPUTS, "NvDsInferParseSsdEdgeNms", 4),
}
CAMERAS = {"usb": 1, "csi": 5}                          # deepstream-app [source] type values


def _num(x):
    """A float as nvinfer/C++ reads it back exactly (shortest repr)."""
    return repr(float(x))


def nvinfer_preprocess(spec):
    """Return ``(net_scale_factor, offsets (3,), model_color_format)`` for ``spec``.

    Raises:
        SsdEdgeError: the spec's std differs per channel (nvinfer has one scale factor).
    """
    std = spec.std
    if not all(math.isclose(s, std[0], rel_tol=1e-6) for s in std):
        raise SsdEdgeError(
            "nvinfer applies one net-scale-factor to all channels (y = k * (x - offset)), expected "
            "equal std values, got std=%s; fold 1/std into the first convolution before export, "
            "or run this model with ssd-live instead of DeepStream" % (tuple(std),))
    return 1.0 / std[0], tuple(spec.mean), COLOR_FORMAT[spec.channel_order]


def labels_text(spec):
    """``labels.txt`` for nvinfer: one label per line, ``BACKGROUND`` first (class id = line)."""
    for label in spec.labels:
        if ";" in label or "\n" in label or "\r" in label:
            raise SsdEdgeError("nvinfer splits labels at ';' and line ends, expected labels "
                               "without them, got %r; rename the class" % label)
    return "\n".join(spec.labels) + "\n"


def nvinfer_config(spec, onnx_file, precision="fp16", engine_file=None, parser_lib=PARSER_LIB):
    """The ``nvinfer`` config text; file paths are written as given (relative to the config)."""
    if precision not in NETWORK_MODE:
        raise SsdEdgeError("expected precision fp32, fp16 or int8, got %r" % (precision,))
    scale, offsets, color = nvinfer_preprocess(spec)
    blobs, func, cluster = LAYOUTS[spec.output_layout]
    nms = spec.nms
    lines = [
        "# nvinfer config for %s (%d classes incl. BACKGROUND), written by ssd-export --deepstream"
        % (spec.arch, spec.num_classes),
        "# from the model's DetectorSpec. Build the parser first: make -C <this folder>.",
        "# nvinfer: y = net-scale-factor * (x - offsets); spec: y = (x - mean) / std (%s)."
        % spec.channel_order,
        "[property]",
        "gpu-id=0",
        "onnx-file=%s" % onnx_file,
    ]
    if engine_file:
        lines.append("# nvinfer builds this engine on first run and reuses it afterwards")
        lines.append("model-engine-file=%s" % engine_file)
    if precision == "int8":
        lines.append("# INT8 from a QDQ ONNX needs no int8-calib-file on DeepStream 6.2+ "
                     "(unverified on a board)")
    lines += [
        "labelfile-path=%s" % LABELS,
        "batch-size=1",
        "network-mode=%d" % NETWORK_MODE[precision],
        "network-type=0",
        "process-mode=1",
        "gie-unique-id=1",
        "interval=0",
        "net-scale-factor=%s" % _num(scale),
        "offsets=%s" % ";".join(_num(m) for m in offsets),
        "model-color-format=%d" % color,
        "maintain-aspect-ratio=0",
        "scaling-filter=1",
        "num-detected-classes=%d" % spec.num_classes,
        "output-blob-names=%s" % ";".join(blobs),
        "parse-bbox-func-name=%s" % func,
        "custom-lib-path=%s" % parser_lib,
        "cluster-mode=%d" % cluster,
        "",
        "[class-attrs-all]",
        "pre-cluster-threshold=%s" % _num(nms.conf_threshold),
    ]
    if cluster == 2:
        lines.append("nms-iou-threshold=%s" % _num(nms.iou_threshold))
        if nms.max_detections > 0:
            lines.append("topk=%d" % nms.max_detections)
    return "\n".join(lines) + "\n"


def makefile_text(spec):
    """Makefile building the parser against DeepStream's headers, thresholds from ``spec``."""
    n = spec.nms
    defines = "-DSSD_EDGE_IOU_THRESHOLD=%sf -DSSD_EDGE_CANDIDATE_SIZE=%d -DSSD_EDGE_TOP_K=%d " \
              "-DSSD_EDGE_MAX_DETECTIONS=%d" % (_num(n.iou_threshold), n.candidate_size,
                                                n.top_k if n.top_k and n.top_k > 0 else -1,
                                                n.max_detections)
    return """\
# Builds %(lib)s, the nvinfer custom-lib-path (written by ssd-export --deepstream).
# On the Jetson (or x86 host) with DeepStream installed:   make
# Another DeepStream location:                             make DS_INCLUDES=/path/to/includes
# NMS parameters come from the model's spec; nvinfer hands a parser only pre-cluster-threshold.
DS_INCLUDES ?= /opt/nvidia/deepstream/deepstream/sources/includes
CUDA_HOME ?= /usr/local/cuda
CXXFLAGS ?= -O2
# -ffp-contract=off: IoU rounded exactly like numpy's float32 (same NMS decisions as ssd-edge).
override CXXFLAGS += -std=c++14 -Wall -Wextra -fPIC -ffp-contract=off \\
	-I$(DS_INCLUDES) -I$(CUDA_HOME)/include \\
	%(defines)s

all: %(lib)s

%(lib)s: %(src)s Makefile
	$(CXX) $(CXXFLAGS) -shared -o $@ %(src)s $(LDFLAGS)

clean:
	rm -f %(lib)s

.PHONY: all clean
""" % {"lib": PARSER_LIB, "src": PARSER_SOURCE, "defines": defines}


def deepstream_app_text(infer_config=INFER_CONFIG, camera="usb", device=0, width=1280,
                        height=720, fps=30):
    """A ``deepstream-app -c`` config: one camera → streammux → nvinfer → OSD → screen."""
    if camera not in CAMERAS:
        raise SsdEdgeError("expected camera usb or csi, got %r" % (camera,))
    source = ["camera-v4l2-dev-node=%d" % device] if camera == "usb" else \
        ["camera-csi-sensor-id=%d" % device]
    lines = [
        "# deepstream-app -c %s   (written by ssd-export --deepstream)" % APP_CONFIG,
        "# camera: type=1 USB (V4L2, /dev/videoN), type=5 CSI (nvarguscamerasrc sensor id).",
        "# headless: set [sink0] type=1 (fakesink) or type=4 (RTSP out, rtsp-port=8554).",
        "[application]", "enable-perf-measurement=1", "perf-measurement-interval-sec=5", "",
        "[source0]", "enable=1", "type=%d" % CAMERAS[camera]] + source + [
        "camera-width=%d" % width, "camera-height=%d" % height,
        "camera-fps-n=%d" % fps, "camera-fps-d=1", "",
        "[streammux]", "gpu-id=0", "live-source=1", "batch-size=1",
        "batched-push-timeout=40000", "width=%d" % width, "height=%d" % height, "",
        "[primary-gie]", "enable=1", "gpu-id=0", "gie-unique-id=1", "batch-size=1",
        "config-file=%s" % infer_config, "",
        "[osd]", "enable=1", "border-width=2", "text-size=15", "",
        "[sink0]", "enable=1", "type=2", "sync=0", "",
    ]
    return "\n".join(lines)


def write_deepstream(onnx_path, spec, out_dir, precision="fp16", camera="usb", device=0):
    """Write the DeepStream files for ``onnx_path`` into ``out_dir`` (created if needed).

    Args:
        onnx_path: the ONNX nvinfer will build its engine from (referenced, not copied).
        spec: the model's :class:`DetectorSpec` (``output_layout`` picks the parser).
        out_dir: folder for the five files.
        precision: ``fp32`` | ``fp16`` | ``int8`` → nvinfer ``network-mode`` 0 / 2 / 1.
        camera, device: ``usb`` + /dev/video index, or ``csi`` + sensor id, for deepstream-app.

    Returns:
        list of the written paths: nvinfer config, labels, parser source, Makefile, app config.
    """
    if not os.path.isfile(str(onnx_path)):
        raise SsdEdgeError("expected an ONNX file for DeepStream, got %s (not found)" % onnx_path)
    out_dir = str(out_dir)
    with disk_errors(out_dir):
        os.makedirs(out_dir, exist_ok=True)
    onnx_rel = os.path.relpath(os.path.abspath(str(onnx_path)), os.path.abspath(out_dir))
    engine_rel = "%s_b1_gpu0_%s.engine" % (onnx_rel, precision)   # nvinfer's own naming
    with open(os.path.join(PARSER_DIR, PARSER_SOURCE), "r", encoding="utf-8") as f:
        parser_source = f.read()
    texts = [
        (INFER_CONFIG, nvinfer_config(spec, onnx_rel, precision, engine_rel)),
        (LABELS, labels_text(spec)),
        (PARSER_SOURCE, parser_source),
        ("Makefile", makefile_text(spec)),
        (APP_CONFIG, deepstream_app_text(INFER_CONFIG, camera, device)),
    ]
    paths = []
    for name, text in texts:
        path = os.path.join(out_dir, name)
        atomic_write_text(path, text)
        paths.append(path)
    return paths
