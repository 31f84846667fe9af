"""The files shipped inside the package: the bundled model and the demo clip.

Every command that runs with no model given (``ssd-live``, ``ssd-detect``, ``ssd-eval``,
``ssd-export``, ``ssd-bench``, ``Detector.load()``, the demo) and the ``demo://`` source find
them here. Stdlib only, so the lookup costs nothing to import.
"""
import os
from typing import Optional

from ..errors import SsdEdgeError

#: Environment variable naming a folder to use instead of the package's ``assets/`` (the
#: bundled model and demo clip): for packagers who install data elsewhere, and for tests.
ASSETS_ENV = "SSD_EDGE_ASSETS"

#: File name of the bundled checkpoint (with ``.spec.json`` beside it) in the assets folder.
BUNDLED_MODEL = "shapes-mb2-ssd-lite.pth"
#: Its FP32 ONNX, exported by ssd-export from that checkpoint: what runs when no model is given
#: (exact, several times faster than the checkpoint in PyTorch on a CPU, and needs no torch).
BUNDLED_ONNX = "shapes-mb2-ssd-lite.onnx"
#: The demo clip the ``demo://`` source plays.
DEMO_CLIP = "demo.mp4"


def assets_dir() -> str:
    """The folder holding the bundled model and demo clip: ``$SSD_EDGE_ASSETS`` when set,
    else ``ssd_edge/assets`` inside the installed package."""
    override = os.environ.get(ASSETS_ENV)
    if override:
        return os.path.abspath(os.path.expanduser(override))
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "assets")


def bundled_model(checkpoint: bool = False) -> Optional[str]:
    """Path of the model shipped inside the package (in ``assets/``, or under
    ``$SSD_EDGE_ASSETS``): its FP32 ONNX, falling back to the ``.pth`` where an installation has
    only that; ``checkpoint=True`` asks for the ``.pth`` (what export and training start from).
    ``None`` when the installation has none."""
    names = (BUNDLED_MODEL,) if checkpoint else (BUNDLED_ONNX, BUNDLED_MODEL)
    for name in names:
        path = os.path.join(assets_dir(), name)
        if os.path.isfile(path):
            return path
    return None


def require_bundled_model(fix: str = "pass --model MODEL.onnx|.engine|.pth",
                          checkpoint: bool = False) -> str:
    """:func:`bundled_model`, or the one-line error saying it is missing, ending in ``fix``."""
    path = bundled_model(checkpoint)
    if path is None:
        raise SsdEdgeError("no model given and no bundled model in this installation (expected "
                           "%s); %s" % (os.path.join(assets_dir(), BUNDLED_MODEL), fix))
    return path


def demo_clip() -> str:
    """Path of the bundled demo clip (``demo.mp4`` in :func:`assets_dir`), or an error."""
    path = os.path.join(assets_dir(), DEMO_CLIP)
    if not os.path.isfile(path):
        raise SsdEdgeError("demo:// needs the demo clip %s, which is missing from this "
                           "installation; pass --source VIDEO|FOLDER|URL instead" % path)
    return path
