"""Tiny real SSD models and frames for the runtime tests (helpers; fixtures in conftest.py).

``TinySSD`` follows the docs/architecture.md §3 I/O contract: ``input_0 (B, 3, 32, 32)`` normalised RGB →
``scores (B, P, C)`` softmax and ``boxes (B, P, 4)`` decoded corner form against the spec's
priors (variances from the spec), exported the way pytorch-ssd's exporter does (TorchScript
exporter, opset 13) with the spec in ``metadata_props["ssd_edge.spec"]``.
"""
import os
import shutil
import warnings

import numpy as np

from ssd_edge.spec import DetectorSpec, PriorLevel

LABELS = ("BACKGROUND", "person", "car", "dog")
NMS_OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")


def tiny_spec(**changes):
    """The test model's own spec: 32×32 input, 2 prior levels (4×4 and 2×2), 80 priors.

    Mean/std differ per channel so a channel-order mistake changes the numbers.
    """
    spec = DetectorSpec(
        arch="tiny-ssd-test", labels=LABELS, input_size=(32, 32),
        prior_levels=(PriorLevel(4, 8, 8.0, 16.0, (2.0,)), PriorLevel(2, 16, 16.0, 28.0, (2.0,))),
        mean=(123.0, 117.0, 104.0), std=(58.0, 57.0, 60.0))
    return spec.replace(**changes) if changes else spec


def build_tiny_module(spec, seed=0):
    import torch
    from torch import nn

    class TinySSD(nn.Module):
        def __init__(self):
            super().__init__()
            c, a = spec.num_classes, spec.prior_levels[0].boxes_per_location
            self.c = c
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
            self.l1 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
            self.l2 = nn.Sequential(nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU())
            self.cls = nn.ModuleList([nn.Conv2d(16, a * c, 3, padding=1) for _ in range(2)])
            self.reg = nn.ModuleList([nn.Conv2d(16, a * 4, 3, padding=1) for _ in range(2)])
            self.register_buffer("priors", torch.from_numpy(spec.priors()))

        def forward(self, x):
            f1 = self.l1(self.stem(x))
            f2 = self.l2(f1)
            b = x.shape[0]
            conf, loc = [], []
            for f, hc, hr in zip((f1, f2), self.cls, self.reg):
                conf.append(hc(f).permute(0, 2, 3, 1).reshape(b, -1, self.c))
                loc.append(hr(f).permute(0, 2, 3, 1).reshape(b, -1, 4))
            scores = torch.softmax(torch.cat(conf, 1), dim=2)
            loc = torch.cat(loc, 1)
            p = self.priors
            cxcy = loc[..., :2] * spec.center_variance * p[:, 2:] + p[:, :2]
            wh = torch.exp(loc[..., 2:] * spec.size_variance) * p[:, 2:]
            return scores, torch.cat([cxcy - wh / 2, cxcy + wh / 2], 2)

    torch.manual_seed(seed)
    m = TinySSD().eval()
    with torch.no_grad():
        for head in m.cls:           # confident enough that thresholds and NMS have work to do
            head.weight.mul_(6.0)
    return m


def export_onnx(module, spec, path, dynamic=True, metadata=True, batch=1):
    """Export ``module`` as pytorch-ssd's exporter does; ``dynamic`` makes the batch axis free,
    else it is fixed at ``batch``. ``metadata`` embeds ``spec`` as ``ssd_edge.spec``."""
    import onnx
    import torch
    dummy = torch.zeros(batch, 3, spec.input_size[0], spec.input_size[1])
    axes = {n: {0: "batch"} for n in ("input_0", "scores", "boxes")} if dynamic else None
    with warnings.catch_warnings():
        # dynamo=False on purpose: the TorchScript exporter is what pytorch-ssd users ran.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, dummy, path, dynamo=False, opset_version=13,
                          input_names=["input_0"], output_names=["scores", "boxes"],
                          dynamic_axes=axes)
    if metadata:
        model = onnx.load(path)
        entry = model.metadata_props.add()
        entry.key, entry.value = "ssd_edge.spec", spec.to_json()
        onnx.save(model, path)
    return path


def nms_graph(path, spec, num, boxes, scores, classes):
    """Write an ONNX graph whose four NMS outputs are constants (batch 1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    h, w = spec.input_size
    arrays = dict(zip(NMS_OUTPUTS, (np.asarray(num, np.int32).reshape(1, 1),
                                    np.asarray(boxes, np.float32)[None],
                                    np.asarray(scores, np.float32)[None],
                                    np.asarray(classes, np.int32)[None])))
    nodes = [helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a, name))
             for name, a in arrays.items()]
    types = {np.dtype(np.int32): TensorProto.INT32, np.dtype(np.float32): TensorProto.FLOAT}
    graph = helper.make_graph(
        nodes, "nms_const",
        [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info(n, types[a.dtype], list(a.shape))
         for n, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    entry = model.metadata_props.add()
    entry.key, entry.value = "ssd_edge.spec", spec.replace(output_layout="nms").to_json()
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def make_frames(n, seed=0, sizes=((480, 640), (240, 320), (300, 300), (97, 151))):
    """Deterministic BGR uint8 frames: smooth gradients plus a few solid rectangles."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        h, w = sizes[i % len(sizes)]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], -1)
        for _ in range(3):
            x0, y0 = rng.integers(0, w // 2 + 1), rng.integers(0, h // 2 + 1)
            img[y0:y0 + h // 3, x0:x0 + w // 3] = rng.integers(0, 256, 3)
        img += rng.normal(0, 8, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def copy_model(src, dst_dir, name=None):
    dst = os.path.join(str(dst_dir), name or os.path.basename(src))
    shutil.copyfile(src, dst)
    return dst
