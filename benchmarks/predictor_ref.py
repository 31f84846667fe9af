"""pytorch-ssd's Predictor as the yardstick of the live and GPU benchmarks, and the comparisons.

With a pytorch-ssd checkout (``--pytorch-ssd DIR`` / ``$SSD_EDGE_PYTORCH_SSD``) its own
``Predictor`` (``vision/ssd/predictor.py``, ``box_utils.nms``) runs its own net constructor with
the checkpoint's weights; without one a stand-in runs PredictionTransform's steps, the zoo net in
eager torch and the literal loop transcription in ``tests/unit/nms_reference.py``, and says so.
Both take an RGB frame (pytorch-ssd's callers convert from BGR) and return
``(boxes (N, 4) float32 px, labels (N,) int64, scores (N,) float32)`` in the Predictor's order.
"""
import contextlib
import importlib.util
import io
import os
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# zoo name → (pytorch-ssd module, constructor, keyword arguments from the spec)
_NETS = {
    "mb1-ssd": ("vision.ssd.mobilenetv1_ssd", "create_mobilenetv1_ssd", lambda s: {}),
    "mb1-ssd-lite": ("vision.ssd.mobilenetv1_ssd_lite", "create_mobilenetv1_ssd_lite",
                     lambda s: {}),
    "mb2-ssd-lite": ("vision.ssd.mobilenet_v2_ssd_lite", "create_mobilenetv2_ssd_lite",
                     lambda s: {"width_mult": s.width_mult,
                                "onnx_compatible": s.activation == "relu"}),
    "vgg16-ssd": ("vision.ssd.vgg_ssd", "create_vgg_ssd", lambda s: {}),
    "sq-ssd-lite": ("vision.ssd.squeezenet_ssd_lite", "create_squeezenet_ssd_lite",
                    lambda s: {}),
}


def import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _placeholder_torchvision():
    """pytorch-ssd's transforms.py imports ``torchvision.transforms`` for a docstring example
    only; without torchvision an empty module stands in so its Predictor can be imported."""
    if importlib.util.find_spec("torchvision") is None:
        import types
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules.setdefault("torchvision", tv)
        sys.modules.setdefault("torchvision.transforms", tv.transforms)


def pytorch_ssd_predictor(checkout, spec, pth, candidate_size, device="cpu"):
    """``(run(rgb, threshold), description)``: pytorch-ssd's own Predictor on ``pth``; its own
    net when the zoo name maps onto one at 300 px, else the zoo net (same keys and forward)."""
    import torch
    sys.path.insert(0, os.path.abspath(checkout))
    _placeholder_torchvision()
    from vision.ssd.predictor import Predictor
    net = None
    entry = _NETS.get(spec.arch)
    if entry is None:
        which = "ssd_edge.models zoo net (no pytorch-ssd constructor mapped for %s)" % spec.arch
    else:
        which = "ssd_edge.models zoo net (pytorch-ssd's own nets are 300 px, this one is %s)" \
            % "x".join(str(v) for v in spec.input_size)
    if entry is not None and tuple(spec.input_size) == (300, 300):
        module = __import__(entry[0], fromlist=[entry[1]])
        kwargs = entry[2](spec)
        net = getattr(module, entry[1])(spec.num_classes, is_test=True, **kwargs)
        # the zoo's keys are pytorch-ssd's; load_checkpoint reads the file as untrusted input
        # (weights_only), strips wrappers and turns an FP16-stored checkpoint into FP32
        from ssd_edge.models import load_checkpoint
        net.load_state_dict(load_checkpoint(pth)[0].state_dict(), strict=True)
        which = "pytorch-ssd's own %s.%s(%s)" % (entry[0], entry[1], ", ".join(
            "%s=%r" % kv for kv in sorted(kwargs.items())))
    if net is None:
        from ssd_edge.models import load_checkpoint
        net = load_checkpoint(pth)[0]
    pred = Predictor(net, spec.input_size[0], np.array(spec.mean, np.float32),
                     np.array(spec.std, np.float32), iou_threshold=0.45,
                     candidate_size=candidate_size, device=torch.device(device))
    sink = io.StringIO()

    def run(rgb, threshold):
        with contextlib.redirect_stdout(sink):     # predict() prints the inference time
            boxes, labels, probs = pred.predict(rgb, -1, threshold)
        sink.seek(0)
        sink.truncate()
        return boxes.numpy().reshape(-1, 4), labels.numpy().reshape(-1), probs.numpy().reshape(-1)
    return run, "pytorch-ssd Predictor (%s); net: %s" % (os.path.abspath(checkout), which)


def reference_predictor(spec, pth, candidate_size, device="cpu"):
    """Stand-in without a checkout: PredictionTransform's steps, the zoo net in eager torch on
    ``device`` and the literal loop transcription of the Predictor's NMS on the host
    (tests/unit/nms_reference.py; the Predictor also moves the outputs to the CPU for it)."""
    import cv2
    import torch
    from ssd_edge.models import load_checkpoint
    ref = import_file("nms_reference", os.path.join(ROOT, "tests", "unit", "nms_reference.py"))
    net = load_checkpoint(pth)[0].eval().to(device)
    h, w = spec.input_size
    mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)

    def run(rgb, threshold):
        img = cv2.resize(rgb, (w, h)).astype(np.float32)
        img = (img - mean) / std
        x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1).unsqueeze(0).to(device)
        with torch.no_grad():
            scores, boxes = net.forward(x)
        scores, boxes = scores[0].cpu().numpy(), boxes[0].cpu().numpy()
        picked = ref.predictor(scores, boxes, threshold, 0.45, candidate_size, -1)
        fh, fw = rgb.shape[:2]
        out = np.array([boxes[p] for _, p, _ in picked], np.float32).reshape(-1, 4)
        out *= np.array([fw, fh, fw, fh], np.float32)
        return (out, np.array([c for c, _, _ in picked], np.int64),
                np.array([s for _, _, s in picked], np.float32))
    return run, ("stand-in, no pytorch-ssd checkout given: PredictionTransform steps + "
                 "ssd_edge zoo net in eager torch + the loop transcription in "
                 "tests/unit/nms_reference.py")


def open_predictor(checkout, spec, pth, candidate_size=200, device="cpu"):
    """The real Predictor when ``checkout`` is given, else the stand-in."""
    if checkout:
        return pytorch_ssd_predictor(checkout, spec, pth, candidate_size, device)
    return reference_predictor(spec, pth, candidate_size, device)


def tied_candidates(scores, threshold, candidate_size=200):
    """Classes whose scores above ``threshold`` hold exact ties among their first
    ``candidate_size`` (after the descending sort): there the Predictor's ``torch.sort``
    order is unspecified, and which boxes survive its candidate cut and NMS may differ from
    ``ssd_edge.postprocess``'s (ties → lower prior index). ``scores``: ``(P, C)``."""
    tied = []
    for c in range(1, scores.shape[1]):
        s = np.sort(scores[scores[:, c] > threshold, c])[::-1]
        head = s[:candidate_size + 1]
        if head.size > 1 and np.any(head[1:] == head[:-1]):
            tied.append(c)
    return tied


def _raw_scores(det, frame):
    """``(P, C)`` scores of ``det``'s network on ``frame`` (a Detector over an array backend)."""
    from ssd_edge.runtime.preprocess import Preprocessor
    x = Preprocessor(det.spec)([frame])
    return det.backend({det.backend.inputs[0]: x})["scores"][0]


def _blocks(fns, repeat):
    """Median ms of each callable, timed in blocks of ``repeat`` after 3 untimed calls; the
    first callable is timed again after the others and both of its blocks count."""
    times = [[] for _ in fns]
    for k in list(range(len(fns))) + [0]:
        for i in range(repeat + 3):
            t = time.perf_counter()
            fns[k]()
            if i >= 3:
                times[k].append(time.perf_counter() - t)
    return [float(np.median(t)) * 1e3 for t in times]


def versus_predictor(det, predict, frame, threshold, repeat):
    """Median ms of ``det(frame)`` and of the Predictor on the same frame, and whether the
    detections are identical (same classes in the same order, boxes within 0.05 px); when they
    are not, ``tied_classes`` lists the classes whose candidates hold exact score ties."""
    import cv2
    det.conf_threshold = threshold
    ours = det(frame)
    rgb = lambda: cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)      # noqa: E731
    boxes, labels, probs = predict(rgb(), threshold)
    same = (len(ours) == len(labels) and np.array_equal(ours.class_ids, labels)
            and np.allclose(ours.boxes, boxes, atol=0.05, rtol=0))
    # In blocks, not interleaved: torch's OpenMP workers keep spinning for a while after each
    # call and would slow the next ONNX Runtime call on a small CPU (a cost neither side has
    # when it runs alone). Detector blocks before and after the Predictor's.
    d, p = _blocks([lambda: det(frame), lambda: predict(rgb(), threshold)], repeat)
    out = {"threshold": threshold, "detections": len(ours), "predictor_detections": len(labels),
           "identical": bool(same), "detector_ms": round(d, 3), "predictor_ms": round(p, 3),
           "speedup": round(p / d, 2)}
    if not same:
        out["tied_classes"] = tied_candidates(_raw_scores(det, frame), threshold,
                                              det.candidate_size)
    return out


def forward_only(det, pth, frame, repeat):
    """The networks alone, in blocks: the Detector's backend on the preprocessed frame and the
    same weights' eager torch forward (what the Predictor's time is mostly made of). Their ratio
    bounds the Detector/Predictor speed-up when the Predictor's loop has little to do (a high
    threshold): pre- and post-processing cannot win more than that."""
    import torch
    from ssd_edge.models import load_checkpoint
    from ssd_edge.runtime.preprocess import Preprocessor
    x = Preprocessor(det.spec)([frame])
    net, tx = load_checkpoint(pth)[0].eval(), torch.from_numpy(x)
    feeds = {det.backend.inputs[0]: x}
    gflop = conv_gflop(net, tx)
    with torch.no_grad():
        ours, eager = _blocks([lambda: det.backend(feeds), lambda: net(tx)], repeat)
    return {"backend": det.backend_name, "precision": det.precision,
            "backend_ms": round(ours, 3), "torch_eager_ms": round(eager, 3),
            "ratio": round(eager / ours, 2), "conv_gflop": round(gflop, 3),
            "backend_gflops": round(gflop / ours * 1e3, 1),
            "torch_eager_gflops": round(gflop / eager * 1e3, 1)}


def conv_gflop(net, x):
    """Floating-point operations (2 per multiply-add) of ``net``'s convolutions on ``x``, in
    GFLOP: with the times above, how close a backend runs to the CPU's arithmetic peak."""
    import torch
    macs = []

    def count(mod, inputs, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        macs.append(out.numel() * k)
    hooks = [m.register_forward_hook(count) for m in net.modules()
             if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return 2.0 * sum(macs) / 1e9


def agreement_over(ref, det, frames, threshold):
    """Mean per-frame agreement of ``det``'s detections with ``ref``'s at ``threshold``
    (:func:`ssd_edge.export.parity.agreement`: greedy one-to-one, same class, IoU >= 0.5) and
    both detection counts."""
    from ssd_edge.export.parity import agreement
    ref.conf_threshold = det.conf_threshold = threshold
    shares, n_ref, n_det = [], 0, 0
    for frame in frames:
        a, b = ref(frame), det(frame)
        shares.append(agreement(a, b))
        n_ref, n_det = n_ref + len(a), n_det + len(b)
    return {"threshold": threshold, "frames": len(frames), "agreement": round(
        float(np.mean(shares)), 4), "reference_detections": n_ref, "detections": n_det}
