"""Parity of a freshly built TensorRT engine: the full check that needs TensorRT and a GPU.

The engine runs (through the ``trt`` backend, which the caller hands in) on the same inputs as the ONNX checks and is compared
with the same reference (PyTorch, or the given ONNX in ONNX Runtime). Engines never fail the
export on numbers: TensorRT may pick TF32 or FP16 kernels, so the figures are reported and a
reduced agreement is a warning, as for the FP16 / INT8 ONNX.
"""
import numpy as np

from ..detections import Detections
from ..nms import postprocess
from . import parity as par


def check_engine(outs, precision, nms, spec, ref, inputs, options, path="the engine"):
    """``(Parity or None, [notes])`` for an engine's outputs ``outs`` (output name → stacked
    arrays over ``inputs``, from ``run_export``'s ``run_engine``) against ``ref`` raw outputs;
    ``path`` names the engine in errors (NaN or Inf in its outputs fails the check)."""
    if nms == "none":
        parity = par.compare_raw(spec, ref, (outs["scores"], outs["boxes"]))
        par.check_finite(parity, path)
        notes = [par.warn_reduced(parity, precision)]
        worst = max(parity.max_dscores, parity.max_dboxes)
        if precision == "fp32" and worst > par.FP32_TOLERANCE:
            notes.append("FP32 engine differs by %.2g (> %g): TensorRT uses TF32 kernels on "
                         "Ampere and newer" % (worst, par.FP32_TOLERANCE))
        return parity, [n for n in notes if n]
    return None, [_nms_agreement(outs, nms, ref, inputs, options)]


def _nms_agreement(outs, nms, ref, inputs, options):
    # EfficientNMS_TRT has no per-class candidate cap (it takes the 4096 best scores); the
    # reference keeps the export's cap, since greedy NMS over thousands of low scores is slow on a
    # board's CPU. The few boxes this can change only lower the agreement figure, never fail.
    kw = dict(conf_threshold=options.conf_threshold, iou_threshold=options.iou_threshold,
              candidate_size=options.candidate_size, max_detections=options.max_detections,
              class_agnostic=bool(options.class_agnostic and nms == "trt"))
    shares, count = [], 0
    for i in range(len(inputs)):
        want = postprocess(ref[0][i], ref[1][i], **kw)
        n = int(outs["num_detections"][i].reshape(-1)[0])
        got = Detections(outs["detection_boxes"][i][:n], outs["detection_scores"][i][:n],
                         outs["detection_classes"][i][:n])
        shares.append(par.agreement(want, got))
        count += len(want)
    share = float(np.mean(shares)) if shares else 1.0
    line = ("engine NMS (%s) agrees %.1f%% with ssd_edge.postprocess on the reference (%d "
            "detections, %d inputs)" % (nms, 100 * share, count, len(inputs)))
    return line if share >= 0.95 or not count else "warning: " + line
