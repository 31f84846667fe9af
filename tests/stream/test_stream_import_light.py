"""The stream package and its CLIs import without OpenCV or any inference package."""
import subprocess
import sys

from streamkit import ROOT

CODE = """
import sys
HEAVY = ("cv2", "torch", "onnx", "onnxruntime", "openvino", "tensorrt", "pycuda", "cuda")
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HEAVY:
            raise ImportError('blocked by test: ' + name)
sys.meta_path.insert(0, Block())
import ssd_edge.runtime.stream as st
import ssd_edge.cli.live, ssd_edge.cli.detect
from ssd_edge.errors import SsdEdgeError
assert st.parse_bind("8080") == ("127.0.0.1", 8080)
assert st.OverlayOptions.parse("lines").lines
try:
    st.open_source(sys.argv[1])
except SsdEdgeError as e:
    print("error:", e)
print([m for m in HEAVY if m in sys.modules])
"""


def test_stream_imports_light_and_names_the_extra(tmp_path):
    video = tmp_path / "x.mp4"
    video.write_bytes(b"0" * 100)
    out = subprocess.run([sys.executable, "-c", CODE, str(video)], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "[]"
    assert 'pip install "ssd-edge[cv]"' in lines[0]      # opening a video needs OpenCV: say so
