"""ssd-export's parity pass: every written file checked against the reference, by its kind.

The stages (:mod:`ssd_edge.export.stages`) only write; :func:`verify` runs each file on the
same inputs as the reference and fills in its ``parity`` and ``notes``:

======================  ============================================================
ONNX, ``.ort``          ONNX Runtime; FP32 within 1e-4 or the export fails, NaN/Inf
                        fails any precision, reduced FP16 / INT8 agreement is a warning
ONNX with NMS inside    ``onnx``: its detections against ``ssd_edge.postprocess``;
                        ``trt``: the plugin's attributes against the export's settings
LiteRT, ncnn            the runtime's own interpreter (a runner the CLI hands in), as ONNX
Core ML                 spec and I/O only (its numbers need macOS)
TensorRT engine         the engine through the ``trt`` backend's runner; never fails
======================  ============================================================

A file is left unchecked with ``--no-check``, when there is no reference (an NMS graph given
as input), when it is the reference itself, or when no runner for its kind was handed in.
"""
from . import parity as par


def verify(art, run):
    """Check ``art`` (a :class:`~ssd_edge.export.pipeline.WrittenFile`) in place.

    Raises :class:`~ssd_edge.errors.SsdEdgeError` when an FP32 file disagrees with the
    reference or any file gives NaN / Inf.
    """
    options, spec = run.options, run.spec
    if art.kind == "onnx" and art.nms == "trt" and not art.reference:
        from .metadata import load_onnx
        from .nms_check import check_plugin_attributes
        from .nms_graph import plugin_attributes
        art.notes.append(check_plugin_attributes(plugin_attributes(load_onnx(art.path)), spec,
                                                 options))
        return
    if art.kind == "coreml":
        from . import coreml
        art.notes.append(coreml.check_coreml(art.path, spec) if options.check else
                         "not checked (--no-check)")
        return
    if not options.check or art.reference:
        return
    if art.kind == "onnx" and art.nms == "onnx":
        from .nms_check import check_onnx_nms
        art.notes.append(check_onnx_nms(art.path, run.models[art.precision][0], run.inputs,
                                        options))
        return
    if run.ref is None:
        return
    if art.kind == "engine":
        _engine(art, run)
        return
    if art.kind in ("onnx", "ort"):
        outs = par.ort_outputs(art.path, run.inputs, options.threads)
    elif art.kind in run.runners:
        outs = run.runners[art.kind](art.path, run.inputs)
    else:
        return
    art.parity = par.compare_raw(spec, run.ref, (outs["scores"], outs["boxes"]))
    par.check_finite(art.parity, art.path)
    if art.precision == "fp32":
        par.check_fp32(art.parity, art.path)
    warning = par.warn_reduced(art.parity, art.precision)
    if warning:
        art.notes.append(warning)


def _engine(art, run):
    runner = run.runners.get("engine")
    if runner is None:
        return
    from .engine_check import check_engine   # the full check: TensorRT is here
    art.parity, notes = check_engine(runner(art.path, run.inputs), art.precision, art.nms,
                                     run.spec, run.ref, run.inputs, run.options, art.path)
    art.notes += notes
