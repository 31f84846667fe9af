"""Atomic file writes: a temporary file in the destination folder, then ``os.replace``.

A crash or Ctrl-C never leaves a half-written ONNX, engine or JSON that a later run would load.
"""
import contextlib
import os
import tempfile

from .errors import SsdEdgeError

# Image files every folder reader accepts (calibration, datasets, image-folder sources).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def make_folder(folder):
    """Create ``folder`` (and its parents) for output; a path that cannot be one is a user error."""
    folder = os.path.abspath(os.fspath(folder))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise SsdEdgeError("expected a folder for output at %s, but cannot create it: %s"
                           % (folder, e.strerror or e))
    return folder


def make_parent(path):
    """Create the folder that will hold the file ``path``; returns that folder."""
    return make_folder(os.path.dirname(os.path.abspath(os.fspath(path))))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` (its folder created); on success renamed onto ``path``."""
    path = os.fspath(path)
    folder = make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part",
                                   dir=folder)
    except OSError as e:
        raise SsdEdgeError("cannot write to %s: %s" % (folder, e.strerror))
    os.close(fd)
    # mkstemp creates 0600; give the artifact the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes-like) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))
