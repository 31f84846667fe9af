"""``triton://`` URLs: parsed without tritonclient, bad ones refused in one line."""
import pytest

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.artifact import artifact_kind
from ssd_edge.runtime.triton_spec import TritonURL, is_triton_url, parse_triton_url


def test_url_forms_and_defaults():
    assert parse_triton_url("triton://gpu-box/det") == TritonURL("gpu-box", 8001, "det", "grpc")
    assert parse_triton_url("triton://10.0.0.5:9001/det_pipeline") == \
        TritonURL("10.0.0.5", 9001, "det_pipeline", "grpc")
    assert parse_triton_url("TRITON://h/m?protocol=http") == TritonURL("h", 8000, "m", "http")
    u = parse_triton_url("triton://h:1234/m?protocol=http")
    assert str(u) == "triton://h:1234/m?protocol=http" and u.address == "h:1234"
    assert artifact_kind("triton://h/m") == "triton"
    assert parse_triton_url("triton://h/m?shm=1") == TritonURL("h", 8001, "m", "grpc", True)
    u = parse_triton_url("triton://h:1/m?protocol=http&shm=true")
    assert u.shm and str(u) == "triton://h:1/m?protocol=http&shm=1"
    assert parse_triton_url(str(u)) == u
    assert not parse_triton_url("triton://h/m?shm=0").shm
    assert is_triton_url("triton://x/y") and not is_triton_url("model.onnx")


@pytest.mark.parametrize("bad", ["triton://", "triton://host", "triton://host/", "triton://h/a/b",
                                 "triton://h:99999/m", "triton://h/m?protocol=ftp",
                                 "triton://h/m?other=1", "triton://h/m?shm=maybe"])
def test_bad_urls_name_the_expected_form(bad):
    with pytest.raises(SsdEdgeError, match=r"expected a model URL triton://HOST\[:PORT\]/NAME"):
        parse_triton_url(bad)
