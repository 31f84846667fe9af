"""ssd-export's ``--triton DIR`` flags: a Triton Inference Server model repository."""
import os


def add_triton_flags(p):
    g = p.add_argument_group("Triton Inference Server (--triton DIR)")
    g.add_argument("--triton", metavar="DIR", help="also write a Triton model repository into DIR "
                   "(the network, an ensemble NAME_pipeline taking uint8 BGR frames, and "
                   "NAME_trt when an engine is built); implies --dynamic-batch")
    g.add_argument("--triton-name", metavar="NAME",
                   help="model name in the repository (default: the ONNX file stem)")
    g.add_argument("--triton-backend", choices=["onnxruntime", "python"], default="onnxruntime",
                   help="onnxruntime: the onnxruntime_onnx platform; python: Triton's python "
                   "backend running the ONNX through ONNX Runtime (runs on any tritonserver)")
    g.add_argument("--triton-device", choices=["gpu", "cpu"],
                   help="instance group of the network (default gpu for onnxruntime, cpu for "
                   "python)")
    g.add_argument("--triton-queue-delay", type=int, metavar="US",
                   help="dynamic batcher's max_queue_delay_microseconds for the network (default "
                   "2000 on GPU; 0 on CPU, where batching saves little and a lone request "
                   "should not wait)")
    g.add_argument("--triton-instances", type=int, metavar="N",
                   help="instances of the network (default 2 for the python backend on CPU, each "
                   "running ONNX Runtime on its share of the cores; else 1)")


def triton_options(a):
    """The :class:`TritonOptions` of the flags (checked before any export work starts)."""
    from ..serving.triton_repo import TritonOptions
    return TritonOptions(name=a.triton_name, backend=a.triton_backend, device=a.triton_device,
                         max_batch=a.max_batch, instances=a.triton_instances,
                         queue_delay_us=a.triton_queue_delay)


def write_triton(a, arts):
    """Write the repository from the export's FP32 (or given) ONNX; return lines to print.

    The network is the most reduced precision the export wrote (INT8, then FP16, then FP32);
    with --nms onnx it is the variant with NMS inside. The engine, if built, becomes NAME_trt.
    """
    from ..serving.triton_repo import write_triton_repository
    onnx = [x for x in arts if x.kind == "onnx" and x.nms in ("none", "onnx")]
    want_nms = "onnx" if a.nms == "onnx" else "none"
    order = {"int8": 0, "fp16": 1, "fp32": 2}
    onnx.sort(key=lambda x: (x.nms != want_nms, order.get(x.precision, 3)))
    engines = [x for x in arts if x.kind == "engine"]
    options = triton_options(a)
    written = write_triton_repository(onnx[0].path, a.triton, options,
                                      engine_path=engines[0].path if engines else None)
    return ["Triton repository %s: %s (from %s)" % (
        a.triton, ", ".join(os.path.basename(w) for w in written),
        os.path.basename(onnx[0].path))]
