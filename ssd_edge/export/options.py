"""ExportOptions: every ssd-export flag maps 1:1 onto one field."""
from dataclasses import dataclass
from typing import Optional

from ..contract import NMS_VARIANTS
from ..spec import NmsDefaults

_NMS = NmsDefaults()
CALIB_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how. Where the files go is the export's ``Source.stem`` (``--output``
    and ``--output-dir`` choose it before any work starts), not an option.

    Batch: ``batch`` is the static batch; with ``dynamic_batch`` the batch axis is symbolic and
    engines get an optimisation profile ``1..max_batch``.
    """

    opset: int = 13
    batch: int = 1
    dynamic_batch: bool = False
    max_batch: int = 8
    simplify: bool = True
    nms: str = "none"
    conf_threshold: float = 0.01
    iou_threshold: float = _NMS.iou_threshold
    candidate_size: int = _NMS.candidate_size
    max_detections: int = _NMS.max_detections
    class_agnostic: bool = False
    fp16: bool = False
    int8: bool = False
    calib_dir: Optional[str] = None
    calib_count: int = 300
    calib_method: str = "minmax"
    engine: bool = False
    workspace_mib: Optional[int] = None
    dla_core: Optional[int] = None
    timing_cache: Optional[str] = None
    mobile: bool = False
    tflite: bool = False                  # LiteRT .tflite (FP32; FP16/INT8 with --fp16/--int8)
    ncnn: bool = False                    # ncnn .param/.bin (FP32; FP16 storage with --fp16)
    coreml: bool = False                  # Core ML .mlpackage (FP32; FP16 with --fp16)
    check: bool = True
    check_inputs: int = 32
    threads: Optional[int] = None
    check_images: Optional[str] = None    # folder of photos the parity check runs on
    seed: int = 0
