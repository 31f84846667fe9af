"""Outputs of a multi-source run: names per stream (``{stream}``, ``{name}``) and sinks shared
by every stream (one ``.jsonl``, the HTTP server)."""
import os
import re

from ...errors import SsdEdgeError


class StreamTagged:
    """One stream's view of a sink shared by every stream (one ``.jsonl``, the server).

    ``write`` calls ``shared.write_stream(index, image, frame, dets)``; opening and closing are
    done once for the shared sink (the pipeline closes ``shared`` itself).
    """

    def __init__(self, shared, index):
        self.shared, self.index = shared, index
        self.uri = shared.uri
        self.wants_image = shared.wants_image

    @property
    def stop_requested(self):
        return self.shared.stop_requested

    def open(self, frame_size, fps=None):
        self.shared.open(frame_size, fps)

    def write(self, image, frame, dets):
        self.shared.write_stream(self.index, image, frame, dets)

    def close(self):
        self.shared.close()


def check_single_outputs(uris, n_streams):
    """Refuse an output that cannot take several streams (a video, images, a window, RTSP)."""
    if n_streams < 2:
        return
    for uri in uris:
        if "{stream}" in uri or "{name}" in uri or uri.lower().endswith(".jsonl"):
            continue
        raise SsdEdgeError("expected one output per stream with %d sources, got %s for all of "
                           "them; put {stream} in the name (e.g. out-{stream}.mp4), or use one "
                           ".jsonl (lines carry a stream field)" % (n_streams, uri))


def expand_output(uri, index, name):
    """``out-{stream}.mp4`` → ``out-0.mp4``; ``{name}``: the source's short name."""
    return uri.replace("{stream}", str(index)).replace("{name}", name)


def source_name(uri):
    """A short name for a source, usable in a file name: the file stem, a host, ``demo``."""
    text = str(uri)
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$", text)
    if m and m.group(1).lower() not in ("file",):
        base = m.group(1).lower() if not m.group(2) else m.group(2)
        tail = os.path.basename(m.group(3).rstrip("/"))
        text = base + ("-" + tail if tail else "")
    else:
        text = os.path.splitext(os.path.basename(text.rstrip("/")))[0] or text
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "stream"
