"""Refuse model files that would make a backend read outside their folder or exhaust memory.

* An ONNX file may keep its weights in *external data* files named by a ``location`` string in
  each tensor. A forged file can point that string anywhere (``/etc/shadow``, ``../../key``, a
  symlink leading out), and some backends (OpenCV's DNN reader) follow it. Every location is
  checked here, before any backend or the ``onnx`` package sees the file: it must be a relative
  path that stays inside the model's folder once symlinks are resolved.
* A ``.pth`` saved by ``torch.save`` is a zip archive; a forged one can declare members that
  inflate to gigabytes from a few megabytes on disk. The declared sizes are read from the zip
  directory (nothing is inflated) and an archive that would expand far beyond its size is
  refused. Legacy (non-zip) pickles are left to ``torch.load(weights_only=True)``.

Both walks read only the file's structure: the ONNX is memory-mapped and its weight bytes are
skipped by their length prefix; the zip directory is all that is read of a checkpoint.
"""
import mmap
import os
import zipfile

from .errors import SsdEdgeError
from .onnxinfo import _Bad, _fields, _span, _text

# Field numbers from onnx/onnx.proto.
_M_GRAPH, _M_TRAINING, _M_FUNCTIONS = 7, 20, 25
_TI_GRAPHS = (1, 2)                          # TrainingInfoProto.initialization / .algorithm
_G_NODE, _G_INIT, _G_SPARSE = 1, 5, 15
_F_NODE = 7                                  # FunctionProto.node
_N_ATTR = 5
_A_T, _A_G, _A_TENSORS, _A_GRAPHS, _A_SPARSE, _A_SPARSES = 5, 6, 10, 11, 22, 23
_S_VALUES, _S_INDICES = 1, 2                 # SparseTensorProto
_T_EXTERNAL = 13                             # TensorProto.external_data
_KV_KEY, _KV_VALUE = 1, 2
_MAX_DEPTH = 64

#: A zip checkpoint may declare at most this many times its own size (plus the slack below)
#: once inflated; ``torch.save`` stores members uncompressed, so real files are near 1x.
ZIP_RATIO = 20
ZIP_SLACK = 64 << 20


def external_data_locations(path):
    """Every external-data ``location`` string in the ONNX file ``path`` (graph, subgraphs,
    functions, training graphs), in file order, duplicates included."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise SsdEdgeError("expected an ONNX model in %s, got an empty file" % path)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                buf = memoryview(mm)
                try:
                    found = []
                    _model(buf, found)
                    return found
                except (_Bad, IndexError, UnicodeDecodeError, RecursionError) as e:
                    raise SsdEdgeError("expected an ONNX model (protobuf ModelProto) in %s, got "
                                       "bytes that do not parse as one (%s)"
                                       % (path, e or "truncated"))
                finally:
                    buf.release()
    except OSError as e:
        raise SsdEdgeError("cannot read model file %s: %s" % (path, e.strerror or e))


def check_external_data(path):
    """Raise :class:`SsdEdgeError` unless every external-data file of ``path`` lies inside its
    folder (relative location, no ``..``, no symlink leading out) and exists."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    real_folder = os.path.realpath(folder)
    name = os.path.basename(path)
    for loc in sorted(set(external_data_locations(path))):
        why = _location_problem(loc, folder, real_folder)
        if why:
            raise SsdEdgeError("%s names external data %r, which %s; refusing to read outside "
                               "the model's folder (keep the weights beside the model, or "
                               "re-export it with ssd-export)" % (name, loc, why))
        if not os.path.isfile(os.path.join(folder, loc)):
            raise SsdEdgeError("%s keeps its weights in the external data file %s, got no such "
                               "file beside it; copy it next to the model" % (name, loc))


def _location_problem(loc, folder, real_folder):
    if not loc or "\x00" in loc:
        return "is empty or holds a NUL byte"
    if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
        return "is an absolute path"
    parts = loc.replace("\\", "/").split("/")
    if ".." in parts:
        return "climbs out with '..'"
    target = os.path.realpath(os.path.join(folder, loc))
    if os.path.commonpath([target, real_folder]) != real_folder:
        return "leads out of the folder through a symlink (to %s)" % target
    return ""


def _model(buf, found):
    for num, wire, value in _fields(buf, 0, len(buf)):
        if num == _M_GRAPH:
            _graph(buf, _span(wire, value, "graph"), found, 0)
        elif num == _M_FUNCTIONS:
            for n, w, v in _fields(buf, *_span(wire, value, "function")):
                if n == _F_NODE:
                    _node(buf, _span(w, v, "node"), found, 1)
        elif num == _M_TRAINING:
            for n, w, v in _fields(buf, *_span(wire, value, "training_info")):
                if n in _TI_GRAPHS:
                    _graph(buf, _span(w, v, "graph"), found, 1)


def _graph(buf, span, found, depth):
    if depth > _MAX_DEPTH:
        raise _Bad("subgraphs nested deeper than %d" % _MAX_DEPTH)
    for num, wire, value in _fields(buf, *span):
        if num == _G_NODE:
            _node(buf, _span(wire, value, "node"), found, depth)
        elif num == _G_INIT:
            _tensor(buf, _span(wire, value, "initializer"), found)
        elif num == _G_SPARSE:
            _sparse(buf, _span(wire, value, "sparse_initializer"), found)


def _node(buf, span, found, depth):
    for num, wire, value in _fields(buf, *span):
        if num != _N_ATTR:
            continue
        for n, w, v in _fields(buf, *_span(wire, value, "attribute")):
            if n in (_A_T, _A_TENSORS):
                _tensor(buf, _span(w, v, "tensor attribute"), found)
            elif n in (_A_G, _A_GRAPHS):
                _graph(buf, _span(w, v, "graph attribute"), found, depth + 1)
            elif n in (_A_SPARSE, _A_SPARSES):
                _sparse(buf, _span(w, v, "sparse attribute"), found)


def _sparse(buf, span, found):
    for num, wire, value in _fields(buf, *span):
        if num in (_S_VALUES, _S_INDICES):
            _tensor(buf, _span(wire, value, "sparse tensor"), found)


def _tensor(buf, span, found):
    for num, wire, value in _fields(buf, *span):
        if num != _T_EXTERNAL:
            continue
        key, val = "", None
        for n, w, v in _fields(buf, *_span(wire, value, "external_data")):
            if n == _KV_KEY:
                key = _text(buf, _span(w, v, "key"))
            elif n == _KV_VALUE:
                val = _text(buf, _span(w, v, "value"))
        if key == "location":
            found.append(val or "")


def check_checkpoint_archive(path):
    """Refuse a zip checkpoint whose members declare far more bytes than the file holds.

    Reads the zip's central directory only. Legacy (non-zip) pickles pass untouched: their
    size is their size. Raises :class:`SsdEdgeError` naming the declared and on-disk sizes.
    """
    path = os.fspath(path)
    try:
        if not zipfile.is_zipfile(path):
            return
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as zf:
            declared = sum(max(0, i.file_size) for i in zf.infolist())
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise SsdEdgeError("expected a PyTorch checkpoint (zip archive) in %s, got a damaged "
                           "archive (%s)" % (path, e))
    if declared > size * ZIP_RATIO + ZIP_SLACK:
        raise SsdEdgeError("checkpoint %s declares %.1f MB of contents in %.1f MB on disk "
                           "(ratio %.0fx; torch.save stores about 1x): refusing to inflate it"
                           % (path, declared / 1e6, size / 1e6, declared / max(size, 1)))
