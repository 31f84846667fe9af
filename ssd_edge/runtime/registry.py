"""Named pretrained models: ``Detector.load("ultraface-rfb-320")``, ``ssd-live --model NAME``.

Each entry records where a published checkpoint lives, its size and sha256, its class names, its
net and the input size it was trained at (weights do not say which). A name resolves to a file
in the user cache folder, downloaded on first use with a progress line, verified (size and
sha256) before use, written atomically, and resumed (HTTP ``Range``) after an interruption. A
``<file>.spec.json`` written beside it records the spec (labels, net, input size), so the file
loads like any ssd-edge checkpoint afterwards. No torch here: running a ``.pth`` needs torch,
fetching it does not.

Environment (locations only):

* ``SSD_EDGE_MODEL_URL`` — base URL the entries' paths are joined to (default: each entry's own
  upstream at its pinned commit); a mirror or a test server on 127.0.0.1.
* ``SSD_EDGE_CACHE`` — cache folder (default ``$XDG_CACHE_HOME/ssd-edge``, else
  ``~/.cache/ssd-edge``); models go to its ``models/`` folder.

A local path always wins over a registry name of the same spelling.
"""
import hashlib
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import SsdEdgeError

URL_ENV = "SSD_EDGE_MODEL_URL"
CACHE_ENV = "SSD_EDGE_CACHE"
_ULTRAFACE = ("https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/raw/"
              "dffdddda9794a50607cba8f318507a28c1c27cab/")
_FACE = ("BACKGROUND", "face")
_MASK = ("BACKGROUND", "face", "masked_face")
_BLOCK = 1 << 16


@dataclass(frozen=True)
class ModelEntry:
    """One published checkpoint.

    Attributes:
        name: the registry name (``ultraface-rfb-320``).
        path: path below the base URL, also the file's name in the cache.
        size: bytes; sha256: hex digest of the file.
        labels: class names, ``BACKGROUND`` first.
        net: zoo arch; input_size: ``(H, W)`` it was trained at.
        base_url: where ``path`` lives unless ``SSD_EDGE_MODEL_URL`` says otherwise.
        licence: the file's licence, for the listing.
    """

    name: str
    path: str
    size: int
    sha256: str
    labels: Tuple[str, ...]
    net: str
    input_size: Tuple[int, int]
    base_url: str
    licence: str = "MIT"


def _uf(name, path, size, sha, labels, net, hw):
    return ModelEntry(name, path, size, sha, labels, net, hw, _ULTRAFACE)


#: The registry, in listing order.
MODELS = OrderedDict((e.name, e) for e in (
    _uf("ultraface-rfb-320", "models/pretrained/version-RFB-320.pth", 1168374,
        "c722b4427cc71642768baef6e15c659931b56f07425e5d2b0ec033ad41b145b3", _FACE,
        "ultraface-rfb", (240, 320)),
    _uf("ultraface-slim-320", "models/pretrained/version-slim-320.pth", 1091283,
        "cd24abce45da5dbc7cfd8167cd3d5f955382dfc9d9ae9459f0026abd3c2e38a4", _FACE,
        "ultraface-slim", (240, 320)),
    _uf("ultraface-rfb-640", "models/pretrained/version-RFB-640.pth", 1168354,
        "bf34512b1a93dc234178e8a701ecf25c6afddf335a3226accf62982536e160b5", _FACE,
        "ultraface-rfb", (480, 640)),
    _uf("ultraface-slim-640", "models/pretrained/version-slim-640.pth", 1091287,
        "02ca778098127c46d2b2680f1c398c7b993c12a424e94c34e6d608beb73481e4", _FACE,
        "ultraface-slim", (480, 640)),
    _uf("ultraface-rfb-320-masked", "masked_face/pretrained/RFB-320-masked_face-v2.pth", 1237721,
        "e5a5ed228cd574c8cfe206192712188ced9208fa7d48d51ffa7943669526a460", _MASK,
        "ultraface-rfb", (240, 320)),
    _uf("ultraface-rfb-640-masked", "masked_face/pretrained/RFB-640-masked_face-v2.pth", 1237721,
        "c2933b1fbbd79b3aea64752733be5b5e5648a38b1a4b7e0eb447141bffb4539a", _MASK,
        "ultraface-rfb", (480, 640)),
))


def cache_dir():
    """The folder named models are stored in (see the module docstring)."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "ssd-edge")
    return os.path.join(root, "models")


def url_of(entry):
    base = os.environ.get(URL_ENV) or entry.base_url
    return base.rstrip("/") + "/" + entry.path


def cached_path(entry):
    return os.path.join(cache_dir(), entry.name, os.path.basename(entry.path))


def looks_like_name(text):
    """True for a bare word such as ``ultraface-rfb-320`` (no folder, no model extension)."""
    text = os.fspath(text)
    return (os.sep not in text and "/" not in text
            and os.path.splitext(text)[1].lower() not in (".onnx", ".pth", ".pt", ".engine",
                                                          ".plan", ".ort"))


def resolve_model(path_or_name, echo=None):
    """Return ``(local path, entry or None)`` for a model path or a registry name.

    A path that exists is returned as is (it wins over a name). A registry name is downloaded
    to the cache when missing or incomplete. Anything else is returned unchanged (the caller's
    own "not found" applies) unless it looks like a name, which raises listing the names.
    """
    text = os.fspath(path_or_name)
    if os.path.exists(text):
        return text, None
    entry = MODELS.get(text)
    if entry is None:
        if looks_like_name(text):
            raise SsdEdgeError("expected a model file or a registry name (%s), got %r: no such "
                               "file or name" % (", ".join(MODELS), text))
        return text, None
    return fetch(entry, echo), entry


def fetch(entry, echo=None):
    """Return the cache path of ``entry``'s file, downloading and verifying it if needed."""
    target = cached_path(entry)
    if _verified(target, entry):
        _write_spec(entry, target)
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    part = target + ".part"
    url = url_of(entry)
    echo = echo or _stderr_progress
    _download(url, part, entry, echo, target)
    got = _sha256(part)
    if os.path.getsize(part) != entry.size or got != entry.sha256:
        size = os.path.getsize(part)
        os.remove(part)
        raise SsdEdgeError("download of %s from %s failed verification: expected %d bytes with "
                           "sha256 %s, got %d bytes with sha256 %s; removed it, run again or "
                           "place the right file at %s" % (entry.name, url, entry.size,
                                                          entry.sha256[:16] + "…", size,
                                                          got[:16] + "…", target))
    os.replace(part, target)
    _write_spec(entry, target)
    return target


def _verified(path, entry):
    return (os.path.isfile(path) and os.path.getsize(path) == entry.size
            and _sha256(path) == entry.sha256)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(url, part, entry, echo, target):
    """Append ``url``'s bytes to ``part`` (resuming from its size when the server allows)."""
    import urllib.error
    import urllib.request

    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if have >= entry.size:          # a complete (or oversized) leftover: start again
        os.remove(part)
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": "ssd-edge"})
    if have:
        request.add_header("Range", "bytes=%d-" % have)
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "code", None) or e
        raise SsdEdgeError("cannot download %s from %s (%s); offline? fetch that URL some other "
                           "way and place the file at %s" % (entry.name, url, reason, target))
    with response:
        if have and getattr(response, "status", 200) != 206:
            have = 0                # the server ignored Range: restart from the beginning
        mode = "ab" if have else "wb"
        done = have
        try:
            with open(part, mode) as f:
                while True:
                    block = response.read(_BLOCK)
                    if not block:
                        break
                    f.write(block)
                    done += len(block)
                    echo(entry.name, done, entry.size)
        except (OSError, ValueError) as e:
            raise SsdEdgeError("download of %s from %s stopped at %d of %d bytes (%s); run again "
                               "to resume" % (entry.name, url, done, entry.size,
                                              type(e).__name__))
    echo(entry.name, done, entry.size, True)
    if done < entry.size:
        raise SsdEdgeError("download of %s from %s stopped at %d of %d bytes; run again to "
                           "resume" % (entry.name, url, done, entry.size))


def _write_spec(entry, path):
    """``<file>.spec.json``: the entry's labels, net and input size (what the weights omit)."""
    from ..models.specs import default_spec
    from ..spec import DetectorSpec
    side = path + ".spec.json"
    spec = default_spec(entry.net, list(entry.labels), entry.input_size)
    spec = spec.replace(source_sha256=entry.sha256)
    if os.path.isfile(side):
        try:
            if DetectorSpec.load(side) == spec:
                return
        except SsdEdgeError:
            pass
    spec.save(side)


def _stderr_progress(name, done, total, final=False):
    stream = sys.stderr
    if not final and not stream.isatty():
        return
    pct = 100.0 * done / total if total else 100.0
    line = "downloading %s: %5.1f%% (%.1f of %.1f MB)" % (name, pct, done / 1e6, total / 1e6)
    stream.write(("\r" + line) if stream.isatty() else line)
    if final:
        stream.write("\n")
    stream.flush()


def describe(entry):
    # type: (ModelEntry) -> str
    """One listing line: name, net, WxH, classes, size."""
    return "%-26s %-15s %dx%d  %s  %.1f MB" % (
        entry.name, entry.net, entry.input_size[1], entry.input_size[0],
        ",".join(entry.labels[1:]), entry.size / 1e6)


def entry_for(name):
    # type: (str) -> Optional[ModelEntry]
    return MODELS.get(name)
