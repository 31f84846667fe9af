"""Numeric check of a Core ML package on macOS: ``python -m ssd_edge.export.coreml_check
model.mlpackage model.onnx`` compares its outputs with the FP32 ONNX in ONNX Runtime on generated
frames through the spec's pre-processing (FP32 package within 1e-4, FP16 reported) and exits 1
when an FP32 package differs. Core ML cannot run on Linux or Windows."""
import sys

import numpy as np


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m ssd_edge.export.coreml_check MODEL.mlpackage MODEL.onnx")
        return 2
    import coremltools as ct
    from .calib import check_inputs
    from .coreml import read_coreml
    from .parity import FP32_TOLERANCE, compare_raw, ort_outputs
    from ..spec import DetectorSpec
    package, onnx_path = argv
    spec = DetectorSpec.from_dict(read_coreml(package)["spec"])
    inputs = check_inputs(spec, None, 4)
    ml = ct.models.MLModel(package)
    outs = [ml.predict({"input_0": x[None]}) for x in inputs]
    got = (np.concatenate([o["scores"] for o in outs]), np.concatenate([o["boxes"] for o in outs]))
    ref = ort_outputs(onnx_path, inputs)
    parity = compare_raw(spec, (ref["scores"], ref["boxes"]), got)
    print("%s vs %s: %s" % (package, onnx_path, parity.line()))
    worst = max(parity.max_dscores, parity.max_dboxes)
    return 1 if spec.precision == "fp32" and worst > FP32_TOLERANCE else 0


if __name__ == "__main__":
    sys.exit(main())
