"""Atomic file writes: a temporary file in the destination folder, then ``os.replace``.

A crash or Ctrl-C never leaves a half-written ONNX, engine or JSON that a later run would load.
Temporary names carry the writing process's id (``.<name>.<pid>.<random>.part``, temporary
folders ``.ssd-edge-tmp-<pid>-<random>``), so :func:`clean_stale` can remove what a killed run
left behind without touching the files of a run still going. A full disk, a read-only folder or
a missing permission is one :class:`SsdEdgeError` line naming the path and the system's reason.
"""
import contextlib
import errno
import os
import re
import shutil
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
        reason = e.strerror or str(e)
        if e.errno in (errno.EEXIST, errno.ENOTDIR):
            reason = "a file is in the way (%s)" % (e.filename or folder)
        raise SsdEdgeError("expected a folder for output at %s, but cannot create it: %s"
                           % (folder, reason))
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
        fd, tmp = tempfile.mkstemp(prefix=".%s.%d." % (os.path.basename(path), os.getpid()),
                                   suffix=".part", dir=folder)
    except OSError as e:
        raise SsdEdgeError("cannot write to %s: %s" % (folder, e.strerror))
    os.close(fd)
    # mkstemp creates 0600; give the artifact the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with disk_errors(path):
            yield tmp
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: errno values that are the disk's or the folder's fault, not a bug.
DISK_ERRNOS = frozenset(getattr(errno, n) for n in (
    "ENOSPC", "EROFS", "EACCES", "EPERM", "EDQUOT", "EFBIG", "EIO", "ENOTDIR", "EISDIR", "ENOENT",
    "ENAMETOOLONG", "EEXIST") if hasattr(errno, n))


@contextlib.contextmanager
def disk_errors(path):
    """Turn a full disk, a read-only folder and the like into one :class:`SsdEdgeError` line."""
    try:
        yield
    except OSError as e:
        if e.errno not in DISK_ERRNOS:
            raise
        raise SsdEdgeError(disk_message(path, e))


def disk_message(path, err):
    """``cannot write PATH: No space left on device`` (the system's own words for ``err``)."""
    reason = err.strerror or os.strerror(err.errno or 0)
    if err.errno == errno.ENOSPC:
        reason = "no space left on %s" % _device_of(path)
    elif err.errno in (errno.EEXIST, errno.ENOTDIR):
        reason = "a file is in the way where a folder is expected (%s)" % (
            err.filename or path)
    return "cannot write %s: %s" % (path, reason)


def _device_of(path):
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    while not os.path.ismount(folder) and folder != os.path.dirname(folder):
        folder = os.path.dirname(folder)
    return "the device holding %s" % folder


def make_temp_dir(folder):
    """A temporary folder inside ``folder`` that :func:`clean_stale` may remove once this process
    is gone (use it as ``tempfile.TemporaryDirectory``'s ``dir``/``prefix``)."""
    return tempfile.TemporaryDirectory(prefix=".ssd-edge-tmp-%d-" % os.getpid(), dir=folder)


_STALE = re.compile(r"^(?:\..+\.(\d+)\.[^.]+\.part|\.ssd-edge-tmp-(\d+)-.+)$")


def clean_stale(folder):
    """Remove the ``.part`` files and temporary folders a killed ssd-edge run left in ``folder``
    (those whose process no longer runs); returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _STALE.match(name)
        if m is None or _alive(int(m.group(1) or m.group(2))):
            continue
        full = os.path.join(folder, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
            removed.append(name)
        except OSError:
            pass
    return removed


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True     # exists, owned by someone else
    return True


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes-like) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())       # ENOSPC may only show here (delayed allocation)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))
