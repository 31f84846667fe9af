"""Free space, writability and playability checks for the sinks that OpenCV writes.

``cv2.VideoWriter`` reports nothing useful: "not opened" for a read-only folder, silence while a
full disk truncates the file. These helpers find the real reason, and check a finished video
plays before it takes its final name.
"""
import errno
import os

from ...errors import SsdEdgeError
from ...fileio import disk_message
from .frames import import_cv2

#: A video sink stops below this many free bytes (cv2.VideoWriter would fail silently).
MIN_FREE_BYTES = 1 << 20


def free_bytes(path):
    """Bytes an unprivileged write may still use on the device holding ``path``'s folder."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except (OSError, AttributeError):
        return float("inf")
    return st.f_bavail * st.f_frsize


def probe_writable(path, shown):
    """Create and remove ``path`` to learn why a folder cannot take a file (read-only, full,
    not a folder); raises the one-line reason naming ``shown``, returns quietly when it can."""
    try:
        with open(path, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        remove_quietly(path)
        raise SsdEdgeError(disk_message(shown, e))
    remove_quietly(path)


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def unplayable(path):
    """Why the video at ``path`` does not play (reopened with OpenCV), or "" when it does."""
    cv2 = import_cv2()
    cap = cv2.VideoCapture(path)
    try:
        if cap.isOpened() and cap.grab():
            return ""
    finally:
        cap.release()
    if free_bytes(path) < MIN_FREE_BYTES:
        return disk_message(path, OSError(errno.ENOSPC, "")).split(": ", 1)[1]
    return "the encoder wrote no playable file"
