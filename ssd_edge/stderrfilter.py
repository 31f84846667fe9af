"""Keep the decoder noise C libraries print off stderr for a whole live run.

libjpeg ("Corrupt JPEG data: 5 extraneous bytes before marker 0xdb"), libpng ("libpng error:
IHDR: CRC error") and FFmpeg's video decoders ("[h264 @ 0x55d0...] error while decoding MB")
write straight to file descriptor 2 from C for every corrupt frame a broken or hostile camera
sends, while other threads print ssd-edge's own lines. :func:`filtered_stderr` puts a filter on
fd 2 for as long as the run lasts:

* the real fd 2 is dup'd aside and fd 2 becomes the write end of a pipe;
* a daemon thread reads the pipe line by line, drops and counts the lines :data:`NOISE`
  recognises, and forwards every other byte unchanged to the real stderr;
* Python's own ``sys.stderr`` writes to (a dup of) the real stderr directly, so ssd-edge's
  one-line messages never pass through the pipe: no reordering among them, and no deadlock
  when the pump thread waits for the interpreter.

Everything is restored on leaving the block (normally, on an exception, on Ctrl-C), after the
pump has forwarded what was still in the pipe. Where fd 2 cannot be dup'd (closed, embedded
interpreter) or off POSIX (Windows), it does nothing. :func:`suppressed` is the count of the
filter in use (or the last one), for ``/stats``.
"""
import contextlib
import io
import os
import re
import sys
import threading

#: ``(library, pattern)``: a line whose start matches is decoder noise about one corrupt frame.
NOISE = (
    ("libjpeg", re.compile(
        rb"(Corrupt JPEG data: |Premature end of JPEG file|Invalid SOS parameters for sequential"
        rb" JPEG|Inconsistent progression sequence for component|Warning: unknown JFIF revision"
        rb" number|Unknown Adobe color transform code|Application transferred too many "
        rb"scanlines)")),
    ("libpng", re.compile(rb"libpng (warning|error): ")),
    ("ffmpeg", re.compile(
        rb"\[(h264|hevc|h263|mjpeg|mpeg4|mpeg2video|mpeg1video|vp8|vp9|av1|libdav1d) @ "
        rb"0x[0-9a-f]+\] ")),
)

#: FFmpeg's follow-up line after a message it repeats; dropped with the message it repeats.
_REPEATED = re.compile(rb"\s*Last message repeated \d+ times?\s*$")

#: A line longer than this is forwarded as it comes, without waiting for its end.
MAX_LINE = 1 << 16

#: fd 2 can be filtered: POSIX file descriptors and pipes (on Windows the filter does nothing).
SUPPORTED = os.name == "posix"

_F_SETPIPE_SZ = 1031            # Linux fcntl; a deeper pipe leaves more room for bursts
_lock = threading.Lock()
_current = None


def suppressed():
    """Lines dropped so far by the filter in use, or by the last one (0 when none ran)."""
    filt = _current
    return filt.total if filt is not None else 0


class StderrFilter:
    """The fd-2 filter; :meth:`start` / :meth:`stop`, or use :func:`filtered_stderr`.

    ``counts`` maps library name → lines dropped; ``active`` is True between a successful
    :meth:`start` and :meth:`stop`.
    """

    def __init__(self, noise=NOISE):
        self.noise = noise
        self.counts = {name: 0 for name, _ in noise}
        self.active = False
        self._real = self._rfd = None
        self._thread = None
        self._old_stderr = self._new_stderr = None
        self._state = threading.Lock()
        self._pump_done = self._orphaned = False
        self._after_noise = False

    @property
    def total(self):
        return sum(self.counts.values())

    def start(self):
        """Put the filter on fd 2; False (and nothing changed) where that is not possible."""
        global _current
        if not SUPPORTED or self.active:
            return False
        with _lock:
            if _current is not None and _current.active:
                return False                # one filter per process: fd 2 is filtered already
            _flush(sys.stderr)
            try:
                real = os.dup(2)
            except OSError:
                return False                # no fd 2 to filter
            try:
                rfd, wfd = os.pipe()
            except OSError:
                os.close(real)
                return False
            _deepen(wfd)
            self._real, self._rfd = real, rfd
            self._thread = threading.Thread(target=self._pump, name="ssd-stderr", daemon=True)
            self._thread.start()
            try:
                os.dup2(wfd, 2)             # from here every C write to fd 2 reaches the pump
            except OSError:
                os.close(wfd)               # the pump sees the end of the pipe and closes it
                self._thread.join(1.0)
                os.close(real)
                return False
            os.close(wfd)
            self._swap_python_stderr()
            self.active = True
            _current = self
        return True

    def _swap_python_stderr(self):
        old = sys.stderr
        if old is None or _fileno(old) != 2:
            return                          # redirected already (a test capture, a log file)
        try:
            raw = io.FileIO(os.dup(self._real), "w", closefd=True)
        except OSError:
            return
        self._old_stderr = old
        self._new_stderr = io.TextIOWrapper(
            io.BufferedWriter(raw), encoding=getattr(old, "encoding", None) or "utf-8",
            errors=getattr(old, "errors", None) or "backslashreplace", line_buffering=True)
        sys.stderr = self._new_stderr

    def stop(self, timeout=2.0):
        """Restore fd 2 and ``sys.stderr``; wait up to ``timeout`` s for the pipe to drain."""
        if not self.active:
            return
        self.active = False
        if self._new_stderr is not None:
            _flush(self._new_stderr)
            if sys.stderr is self._new_stderr:
                sys.stderr = self._old_stderr
            # The wrapper keeps its own dup of the real stderr: code that kept a reference to
            # it still writes to the right place, and the fd closes with the wrapper.
        os.dup2(self._real, 2)              # closes fd 2's hold on the pipe: the pump sees EOF
        self._thread.join(timeout)
        with self._state:
            if self._pump_done:
                os.close(self._real)
            else:
                self._orphaned = True       # a child process still holds the pipe open:
                                            # the pump forwards until it ends, then closes

    def _pump(self):
        rest = b""
        try:
            while True:
                try:
                    chunk = os.read(self._rfd, 1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                out = [ln + b"\n" for ln in lines if not self._is_noise(ln)]
                if len(rest) > MAX_LINE:
                    out.append(rest)
                    rest = b""
                if out:
                    self._forward(b"".join(out))
            if rest and not self._is_noise(rest):
                self._forward(rest)
        finally:
            os.close(self._rfd)
            with self._state:
                self._pump_done = True
                if self._orphaned:
                    os.close(self._real)

    def _is_noise(self, line):
        if self._after_noise and _REPEATED.match(line):
            return True
        for name, pattern in self.noise:
            if pattern.match(line):
                self.counts[name] += 1
                self._after_noise = True
                return True
        self._after_noise = False
        return False

    def _forward(self, data):
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._real, view):]
            except InterruptedError:
                continue
            except OSError:
                return                      # stderr itself went away: nothing to tell


def _fileno(stream):
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _flush(stream):
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _deepen(fd):
    if sys.platform.startswith("linux"):
        try:
            import fcntl
            fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
        except (ImportError, OSError):
            pass                            # the default 64 KB pipe works too


@contextlib.contextmanager
def filtered_stderr(enabled=True):
    """Yield a :class:`StderrFilter`, active for the block where ``enabled`` and possible."""
    filt = StderrFilter()
    if enabled:
        filt.start()
    try:
        yield filt
    finally:
        filt.stop()


def summary_line(prog, filt):
    """``"prog: N ... suppressed (libjpeg a, libpng b)..."``, or None when nothing was dropped."""
    if not filt.total:
        return None
    per = ", ".join("%s %d" % (k, v) for k, v in filt.counts.items() if v)
    return ("%s: %d decoder message%s about corrupt frames suppressed (%s); set "
            "SSD_EDGE_DEBUG=1 to see them" % (prog, filt.total, "" if filt.total == 1 else "s",
                                              per))
