"""Open a source by URI.

==========================  ==============================================================
``0``, ``1`` … (an int)     V4L2 camera N (``--camera N``)
``/dev/videoN``, ``v4l2://…``  V4L2 camera by device path (``v4l2:///dev/video1`` or ``v4l2://1``)
``csi://N``                 Jetson CSI camera N through GStreamer ``nvarguscamerasrc``
``rtsp://…``                RTSP stream (OpenCV's FFmpeg backend)
``http(s)://…``             MJPEG over HTTP (an IP camera, another ``ssd-live --serve``)
``gst://<pipeline>``        any GStreamer pipeline ending in ``appsink`` (added when missing)
``demo://``                 the bundled demo clip
a path                      a video file, an image, or a folder of images (sorted by name)
==========================  ==============================================================

Cameras and streams are *live* (newest frame only, see :mod:`.live`); files deliver every frame.
"""
import os
import re

from ...errors import SsdEdgeError
from ..assets import demo_clip
from .files import ImageSource, VideoFileSource, is_image
from .frames import SourceOptions, import_cv2, require_gstreamer
from .live import CvReader, LiveSource

SCHEMES = ("v4l2", "csi", "rtsp", "rtsps", "http", "https", "gst", "demo", "file")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)

# nvvidconv's flip-method numbering.
_NV_FLIP = {"none": 0, "counterclockwise": 1, "rotate-180": 2, "clockwise": 3, "horizontal": 4,
            "vertical": 6}


def open_source(uri, options=None):
    """Open ``uri`` (see the module table) and return an opened :class:`Source`.

    Raises :class:`SsdEdgeError` (one line) for an unknown scheme, a missing camera or file,
    an unreadable video, or a GStreamer source on an OpenCV without GStreamer.
    """
    return make_source(uri, options).open()


def make_source(uri, options=None):
    """Like :func:`open_source` but not opened yet (``with make_source(u) as src: ...``)."""
    options = options or SourceOptions()
    if isinstance(uri, int) or (isinstance(uri, str) and uri.isdigit()):
        return camera_source(int(uri), options)
    uri = os.fspath(uri)
    m = _SCHEME.match(uri)
    if m is None:
        return path_source(uri, options)
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "file":
        return path_source(rest, options)
    if scheme == "v4l2":
        dev = rest if rest.startswith("/") else ("/dev/video" + rest if rest.isdigit() else rest)
        return camera_source(dev, options)
    if scheme == "csi":
        return csi_source(rest, options)
    if scheme in ("rtsp", "rtsps"):
        return _stream_source(uri, options)
    if scheme in ("http", "https"):
        return http_source(uri, options)
    if scheme == "gst":
        return gst_source(rest, options)
    if scheme == "demo":
        return path_source(demo_clip(), options)
    raise SsdEdgeError("unknown source scheme %r in %s; expected a path, a camera number, "
                       "/dev/videoN or one of %s" % (scheme + "://", uri,
                                                     ", ".join(s + "://" for s in SCHEMES)))


def path_source(path, options):
    if os.path.isdir(path) or (is_image(path) and os.path.isfile(path)):
        return ImageSource(path, options)
    if re.match(r"^/dev/video\d+$", path):
        return camera_source(path, options)
    if not os.path.exists(path):
        raise SsdEdgeError("expected a video, an image or a folder, got %s, which does not exist"
                           % path)
    return VideoFileSource(path, options)


def camera_source(device, options):
    """V4L2 camera: ``device`` is an index or a ``/dev/videoN`` path."""
    path = device if isinstance(device, str) else "/dev/video%d" % device
    if os.name == "posix" and os.path.isdir("/dev") and not os.path.exists(path):
        raise SsdEdgeError("camera %s not found: %s does not exist; list cameras with "
                           "`ls /dev/video*`, or pass --source FILE|URL" % (device, path))

    def opener():
        cv2 = import_cv2()
        api = getattr(cv2, "CAP_V4L2", cv2.CAP_ANY) if os.name == "posix" else cv2.CAP_ANY
        target = int(path[len("/dev/video"):]) if re.match(r"^/dev/video\d+$", path) else path
        return CvReader(target, api, options, "camera %s" % path)
    return LiveSource("v4l2://" + path, opener, options)


def csi_pipeline(sensor_id, options):
    """The GStreamer pipeline for a Jetson CSI camera (``nvarguscamerasrc``), flipped by nvvidconv."""
    w, h = options.width or 1280, options.height or 720
    rate = int(round(options.rate or 30))
    return ("nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM), width=%d, height=%d, "
            "framerate=%d/1, format=NV12 ! nvvidconv flip-method=%d ! video/x-raw, width=%d, "
            "height=%d, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
            "appsink drop=true max-buffers=1 sync=false"
            % (sensor_id, w, h, rate, _NV_FLIP[options.flip], w, h))


def csi_source(rest, options):
    if not rest.strip("/").isdigit():
        raise SsdEdgeError("expected csi://N with a sensor number, got csi://%s" % rest)
    uri = "csi://" + rest.strip("/")
    cv2 = import_cv2()
    require_gstreamer(cv2, uri)
    pipeline = csi_pipeline(int(rest.strip("/")), options)
    return LiveSource(uri, lambda: CvReader(pipeline, cv2.CAP_GSTREAMER, options, uri), options,
                      software_flip=False)


def gst_source(pipeline, options):
    uri = "gst://" + pipeline
    cv2 = import_cv2()
    require_gstreamer(cv2, uri)
    if "appsink" not in pipeline:
        pipeline += " ! videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1"
    # A pipeline that stops delivering reached its end (a filesrc, a finite test source): end of
    # stream, not a camera to reopen forever.
    return LiveSource(uri, lambda: CvReader(pipeline, cv2.CAP_GSTREAMER, options, uri), options,
                      ends=True)


def _stream_source(uri, options):
    def opener():
        cv2 = import_cv2()
        return CvReader(uri, cv2.CAP_FFMPEG, options, uri)
    return LiveSource(uri, opener, options)


def http_source(uri, options):
    """MJPEG over HTTP through :class:`.mjpeg.MjpegReader`; other HTTP media through FFmpeg."""
    from .mjpeg import MjpegReader, probe
    resp, boundary = probe(uri, timeout=options.open_timeout)
    resp.close()
    if boundary is None:
        return _stream_source(uri, options)
    return LiveSource(uri, lambda: MjpegReader(uri, timeout=options.open_timeout), options)
