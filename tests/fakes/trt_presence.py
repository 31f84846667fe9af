"""Which TensorRT Python names exist in which release, for the fake ``tensorrt`` module.

Read from each TensorRT release branch's Python bindings source. Columns used here: 8.4, 8.5, 8.6,
10.3, 11.1 (standing in for 11.x). Names marked ASSUMED were not read one by one; they follow the
row named beside them (the whole binding-index API went together in 10.0, the whole named-tensor
API came together in 8.5, and the calibration-profile calls are among 11.0's removals).
"""

VERSIONS = ("8.4", "8.5", "8.6", "10.3", "11.1")
FULL_VERSION = {"8.4": "8.4.3.1", "8.5": "8.5.2.2", "8.6": "8.6.2.3", "10.3": "10.3.0.26",
                "11.1": "11.1.0.4"}
# The ONNX parser's highest opset per release (reference §6 table; 10.3 inferred there).
MAX_OPSET = {"8.4": 17, "8.5": 17, "8.6": 17, "10.3": 20, "11.1": 25}
# Release key in ssd_edge/export/data/tensorrt_onnx_ops.json whose operator table applies.
OPS_TABLE = {"8.4": "8.4", "8.5": "8.5", "8.6": "8.6", "10.3": "10.1", "11.1": "10.1"}

_ALL = set(VERSIONS)
_UPTO_86 = {"8.4", "8.5", "8.6"}
_UPTO_10 = {"8.4", "8.5", "8.6", "10.3"}
_FROM_85 = {"8.5", "8.6", "10.3", "11.1"}
_FROM_86 = {"8.6", "10.3", "11.1"}
_FROM_10 = {"10.3", "11.1"}

PRESENCE = {
    "NetworkDefinitionCreationFlag.EXPLICIT_BATCH": _UPTO_10,
    "NetworkDefinitionCreationFlag.STRONGLY_TYPED": _FROM_10,
    "Builder.build_engine": _UPTO_86,
    "Builder.build_serialized_network": _ALL,
    "IBuilderConfig.max_workspace_size": _UPTO_86,
    "IBuilderConfig.set_memory_pool_limit": _ALL,
    "BuilderFlag.FP16": _UPTO_10,
    "BuilderFlag.INT8": _UPTO_10,
    "BuilderFlag.OBEY_PRECISION_CONSTRAINTS": _UPTO_10,
    "IBuilderConfig.int8_calibrator": _UPTO_10,
    "IBuilderConfig.set_calibration_profile": _UPTO_10,          # ASSUMED (§2.3)
    "IInt8EntropyCalibrator2": _UPTO_10,
    "IInt8MinMaxCalibrator": _UPTO_10,
    "CalibrationAlgoType": _UPTO_10,                             # ASSUMED (§2.3)
    "ITensor.set_dynamic_range": _UPTO_10,
    "Builder.platform_has_fast_fp16": _UPTO_10,
    "ICudaEngine.num_bindings": _UPTO_86,
    "ICudaEngine.get_binding_index": _UPTO_86,
    "ICudaEngine.get_binding_name": _UPTO_86,                    # ASSUMED (num_bindings)
    "ICudaEngine.binding_is_input": _UPTO_86,                    # ASSUMED (num_bindings)
    "ICudaEngine.get_binding_shape": _UPTO_86,                   # ASSUMED (num_bindings)
    "ICudaEngine.get_binding_dtype": _UPTO_86,                   # ASSUMED (num_bindings)
    "ICudaEngine.get_profile_shape": _UPTO_86,                   # ASSUMED (num_bindings)
    "IExecutionContext.set_binding_shape": _UPTO_86,
    "IExecutionContext.get_binding_shape": _UPTO_86,             # ASSUMED (set_binding_shape)
    "IExecutionContext.all_binding_shapes_specified": _UPTO_86,  # ASSUMED (set_binding_shape)
    "IExecutionContext.execute_async_v2": _UPTO_86,
    "ICudaEngine.num_io_tensors": _FROM_85,
    "ICudaEngine.get_tensor_name": _FROM_85,                     # ASSUMED (num_io_tensors)
    "ICudaEngine.get_tensor_mode": _FROM_85,
    "ICudaEngine.get_tensor_shape": _FROM_85,                    # ASSUMED (num_io_tensors)
    "ICudaEngine.get_tensor_dtype": _FROM_85,                    # ASSUMED (num_io_tensors)
    "ICudaEngine.get_tensor_profile_shape": _FROM_85,
    "IExecutionContext.set_input_shape": _FROM_85,
    "IExecutionContext.get_tensor_shape": _FROM_85,              # ASSUMED (set_input_shape)
    "IExecutionContext.set_tensor_address": _FROM_85,
    "IExecutionContext.execute_async_v3": _FROM_85,
    "IExecutionContext.execute_v2": _ALL,
    "IExecutionContext.set_output_allocator": _FROM_85,
    "TensorIOMode": _FROM_85,                                    # ASSUMED (num_io_tensors)
    "IProgressMonitor": _FROM_10,
    "IBuilderConfig.progress_monitor": _FROM_10,                 # ASSUMED (IProgressMonitor)
    "BuilderFlag.VERSION_COMPATIBLE": _FROM_86,
    "HardwareCompatibilityLevel": _FROM_86,
    "IBuilderConfig.hardware_compatibility_level": _FROM_86,     # ASSUMED (HW compat level)
    "Runtime.engine_host_code_allowed": _FROM_86,
    "IBuilderConfig.builder_optimization_level": _FROM_86,
    "IBuilderConfig.create_timing_cache": _ALL,
    "IBuilderConfig.default_device_type": _ALL,
    "BuilderFlag.GPU_FALLBACK": _ALL,
    "INetworkDefinition.add_nms": _FROM_85,
    "ICudaEngine.device_memory_size": _UPTO_10,
    "ICudaEngine.device_memory_size_v2": _FROM_10,
    "IPluginRegistry.get_plugin_creator": _UPTO_10,
    "IPluginRegistry.plugin_creator_list": _UPTO_10,
    "IPluginRegistry.get_creator": _FROM_10,
    "OnnxParser.supports_model": _UPTO_10,
}

# Standard plugins registered by init_libnvinfer_plugins (reference §4.2/4.3).
PLUGINS = {"EfficientNMS_TRT": _ALL, "BatchedNMSDynamic_TRT": _UPTO_10}


def normalise(version):
    """'11' / '11.x' / '11.1' → '11.1'; others must be one of VERSIONS."""
    v = str(version)
    if v.startswith("11"):
        return "11.1"
    if v not in VERSIONS:
        raise ValueError("fake TensorRT has versions %s, not %r" % (VERSIONS, version))
    return v


def present(name, version):
    """True when ``name`` ("Class.member", "Enum.VALUE" or "ModuleName") exists in ``version``."""
    return version in PRESENCE.get(name, _ALL)
