"""ssd-edge: PyTorch SSD / SSD-Lite detectors from checkpoint to camera.

Importing the package is light (numpy only). The public names:

* :class:`DetectorSpec`, :class:`PriorLevel` — the model description every artifact carries.
* :func:`postprocess` — scores and boxes → :class:`Detections`, as pytorch-ssd's Predictor.
* :class:`Detector` — load an artifact and run it on frames (imported on first use).
"""
from typing import Any

from .detections import Detections
from .errors import SsdEdgeError
from .nms import postprocess
from .spec import DetectorSpec, NmsDefaults, PriorLevel

__version__ = "0.1.0"

__all__ = ["Detections", "Detector", "DetectorSpec", "NmsDefaults", "PriorLevel", "SsdEdgeError",
           "postprocess", "__version__"]


def __getattr__(name: str) -> Any:
    # PEP 562: the runtime loads on first use, so `import ssd_edge` stays numpy-only.
    if name == "Detector":
        from .runtime.detector import Detector
        return Detector
    if name == "stream":
        from .runtime.stream import stream
        return stream
    raise AttributeError("module 'ssd_edge' has no attribute %r" % name)
