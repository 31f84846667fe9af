"""PyTorch → ONNX with the docs/architecture.md §3 contract, simplified with onnxsim, spec in the metadata."""
import logging
import os

from ..fileio import make_temp_dir
from .graph import ensure_node_names
from .metadata import save_onnx, set_spec

log = logging.getLogger("ssd_edge.export")

INPUT_NAME = "input_0"
OUTPUT_NAMES = ("scores", "boxes")


def export_onnx(model, spec, path, options):
    """Export ``model`` (eval mode, returning ``(scores [B,P,C], boxes [B,P,4])``) to ``path``.

    Runs on the CPU (no CUDA needed), ``dynamo=False`` with ``options.opset``; static batch
    ``options.batch`` unless ``options.dynamic_batch``. Simplifies with onnxsim and falls back
    to the plain graph (saying so) when simplification fails or changes the I/O. Returns
    ``(model, notes)``: the ``onnx.ModelProto`` written (so the caller need not read the file
    back) and human-readable lines for the summary.
    """
    import onnx
    import torch

    model = model.eval().cpu()
    h, w = spec.input_size
    dummy = torch.zeros(options.batch if not options.dynamic_batch else 1, 3, h, w)
    axes = None
    if options.dynamic_batch:
        axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAMES[0]: {0: "batch"}, OUTPUT_NAMES[1]: {0: "batch"}}
    notes = []
    with make_temp_dir(os.path.dirname(os.path.abspath(str(path)))) as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        kwargs = dict(input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                      opset_version=options.opset, dynamic_axes=axes, do_constant_folding=True)
        try:
            with torch.no_grad():
                torch.onnx.export(model, (dummy,), raw, dynamo=False, **kwargs)
        except TypeError:  # torch < 2.1 has no dynamo argument
            with torch.no_grad():
                torch.onnx.export(model, (dummy,), raw, **kwargs)
        proto = onnx.load(raw)
    nodes_before = len(proto.graph.node)
    if options.simplify:
        proto, note = _simplify(proto)
        notes.append(note)
    else:
        notes.append("onnxsim: skipped (--no-simplify); %d nodes" % nodes_before)
    ensure_node_names(proto)
    set_spec(proto, spec.replace(precision="fp32", output_layout="decoded"))
    onnx.checker.check_model(proto)
    save_onnx(proto, path)
    return proto, notes


def _simplify(proto):
    """Return ``(model, note)``; the plain graph when onnxsim is missing or fails."""
    before = len(proto.graph.node)
    try:
        import onnxsim
    except ImportError:
        return proto, "onnxsim not installed: kept the plain graph (%d nodes); pip install onnxsim" % before
    try:
        simplified, ok = onnxsim.simplify(proto)
    except Exception as e:  # onnxsim raises plain RuntimeErrors from C++
        log.warning("onnxsim failed (%s); keeping the plain graph", e)
        return proto, "onnxsim failed (%s): kept the plain graph (%d nodes)" % (
            str(e).splitlines()[0][:120], before)
    io_same = ([i.name for i in simplified.graph.input] == [i.name for i in proto.graph.input]
               and [o.name for o in simplified.graph.output] == [o.name for o in proto.graph.output])
    if not ok or not io_same:
        return proto, "onnxsim check failed: kept the plain graph (%d nodes)" % before
    return simplified, "onnxsim: %d → %d nodes" % (before, len(simplified.graph.node))

