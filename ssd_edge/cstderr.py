"""Catch what C libraries print on the process's stderr while one call runs.

FFmpeg ("moov atom not found"), libjpeg ("Corrupt JPEG data: ...") and libpng write straight to
file descriptor 2, around ssd-edge's own one-line error. :func:`library_output` points fd 2 at a
temporary file for the duration of one open or decode, so that text becomes the *reason* in the
error instead of stray lines. Used only where no other thread is expected to print (opening a
file, decoding one image), and whatever was caught is written back when no error follows.
"""
import contextlib
import os
import sys
import tempfile


class Caught:
    """The text caught, as ``lines`` (stripped, non-empty) and ``reason`` (one line)."""

    def __init__(self):
        self.text = ""

    @property
    def lines(self):
        return [ln.strip() for ln in self.text.splitlines() if ln.strip()]

    def replay(self):
        """Write the caught text to stderr after all (the call it came from succeeded)."""
        if self.text:
            try:
                os.write(2, self.text.encode("utf-8"))
            except OSError:
                pass

    @property
    def reason(self):
        lines = [ln.split("] ", 1)[-1] if ln.startswith("[") else ln for ln in self.lines]
        return "; ".join(lines[:2])[:200]


@contextlib.contextmanager
def library_output(replay=True):
    """Yield a :class:`Caught`; fd 2 goes to a temporary file meanwhile. ``replay`` writes the
    text back to stderr unless the block raised (the caller then reports ``caught.reason``)."""
    caught = Caught()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        tmp = tempfile.TemporaryFile()
    except (OSError, ValueError, AttributeError):
        yield caught                        # no fd 2 to redirect (embedded interpreter)
        return
    failed = True
    try:
        os.dup2(tmp.fileno(), 2)
        try:
            yield caught
            failed = False
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            tmp.seek(0)
            caught.text = tmp.read(1 << 16).decode("utf-8", "replace")
        if replay and not failed:
            caught.replay()
    finally:
        os.close(saved)
        tmp.close()
