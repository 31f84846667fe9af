"""Named models: fetched from a local HTTP server (never the internet) into a cache folder,
verified, resumed after a truncated transfer; wrong digests, unknown names and no server are
one-line errors."""
import hashlib
import os

import pytest

from localhttp import Server
from ssd_edge import SsdEdgeError
from ssd_edge.runtime import registry


PAYLOAD = os.urandom(300000)


@pytest.fixture
def env(tmp_path, monkeypatch):
    entry = registry.ModelEntry("test-face", "models/pretrained/test.pth", len(PAYLOAD),
                                hashlib.sha256(PAYLOAD).hexdigest(), ("BACKGROUND", "face"),
                                "ultraface-slim", (240, 320), "http://unused.invalid/")
    monkeypatch.setitem(registry.MODELS, entry.name, entry)
    server = Server({"/models/pretrained/test.pth": PAYLOAD})
    monkeypatch.setenv(registry.URL_ENV, server.url)
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    yield entry, server
    server.close()


def test_name_downloads_once_verified_with_spec_beside(env):
    entry, server = env
    path, got = registry.resolve_model("test-face", echo=lambda *a: None)
    assert got is entry and open(path, "rb").read() == PAYLOAD
    assert path.startswith(registry.cache_dir()) and not os.path.exists(path + ".part")
    from ssd_edge import DetectorSpec
    spec = DetectorSpec.load(path + ".spec.json")
    assert spec.arch == "ultraface-slim" and spec.input_size == (240, 320)
    assert spec.labels == ("BACKGROUND", "face") and spec.source_sha256 == entry.sha256
    again, _ = registry.resolve_model("test-face", echo=lambda *a: None)
    assert again == path and len(server.requests) == 1          # cached: no second request


def test_truncated_download_resumes(env):
    entry, server = env
    server.cut = 100000
    with pytest.raises(SsdEdgeError, match="stopped at 100000 of 300000 bytes.*run again"):
        registry.resolve_model("test-face", echo=lambda *a: None)
    part = registry.cached_path(entry) + ".part"
    assert os.path.getsize(part) == 100000 and not os.path.exists(registry.cached_path(entry))
    path, _ = registry.resolve_model("test-face", echo=lambda *a: None)
    assert open(path, "rb").read() == PAYLOAD
    assert server.requests[-1][1] == "bytes=100000-"


def test_server_without_range_restarts_cleanly(env):
    entry, server = env
    server.cut = 5000
    with pytest.raises(SsdEdgeError):
        registry.resolve_model("test-face", echo=lambda *a: None)
    server.ignore_range = True
    path, _ = registry.resolve_model("test-face", echo=lambda *a: None)
    assert open(path, "rb").read() == PAYLOAD


def test_wrong_digest_is_refused_and_removed(env):
    entry, server = env
    server.files["/models/pretrained/test.pth"] = PAYLOAD[:-1] + b"x"
    with pytest.raises(SsdEdgeError) as e:
        registry.resolve_model("test-face", echo=lambda *a: None)
    msg = str(e.value)
    assert "failed verification" in msg and entry.sha256[:16] in msg and "\n" not in msg
    assert not os.listdir(os.path.dirname(registry.cached_path(entry)))


def test_unknown_name_lists_the_registry(env):
    with pytest.raises(SsdEdgeError) as e:
        registry.resolve_model("ultraface-rfb-999")
    assert "ultraface-rfb-320" in str(e.value) and "got 'ultraface-rfb-999'" in str(e.value)
    assert registry.resolve_model("missing.onnx") == ("missing.onnx", None)   # caller's error


def test_offline_names_the_url_and_where_to_put_the_file(env, monkeypatch):
    entry, server = env
    server.close()
    with pytest.raises(SsdEdgeError) as e:
        registry.resolve_model("test-face", echo=lambda *a: None)
    msg = str(e.value)
    assert server.url + "/models/pretrained/test.pth" in msg
    assert registry.cached_path(entry) in msg and "\n" not in msg


def test_a_local_path_wins_over_a_name(env, tmp_path):
    (tmp_path / "test-face").write_bytes(b"mine")
    assert registry.resolve_model("test-face") == ("test-face", None)


def test_registry_entries_are_complete():
    for name, e in registry.MODELS.items():
        assert name == e.name and len(e.sha256) == 64 and e.size > 0
        assert e.labels[0] == "BACKGROUND" and e.net.startswith("ultraface-")
        assert e.base_url.startswith("https://") and "dffdddda" in e.base_url
        assert registry.describe(e).startswith(name)
