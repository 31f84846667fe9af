"""The RTSP server process behind ``--output rtsp://HOST:PORT/PATH`` (see :mod:`.rtsp_out`).

Runs under the *system* Python, whose ``gi`` (Debian's ``python3-gi``) reaches GStreamer and its
RTSP server library; it imports nothing from ssd-edge, so the package need not be installed
there. Reads raw BGR frames of ``W*H*3`` bytes from stdin and serves them as H.264 RTP
(``nvv4l2h264enc`` on a Jetson, ``x264enc`` elsewhere) at ``rtsp://HOST:PORT/PATH``. Prints one
line on stdout: ``ready ENCODER`` once listening, or ``error: ...`` and exits 3.

    python3 rtsp_child.py HOST PORT /PATH WIDTH HEIGHT FPS BITRATE_KBPS
"""
import sys
import threading


def encoder_chain(Gst, fps, kbps):
    """The encoding part of the pipeline: hardware on a Jetson, x264 elsewhere."""
    gop = max(1, int(round(fps)))
    if Gst.ElementFactory.find("nvv4l2h264enc") and Gst.ElementFactory.find("nvvidconv"):
        return "nvv4l2h264enc", ("videoconvert ! video/x-raw,format=BGRx ! nvvidconv ! "
                                 "video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc "
                                 "insert-sps-pps=true iframeinterval=%d bitrate=%d"
                                 % (gop, kbps * 1000))
    if Gst.ElementFactory.find("x264enc"):
        return "x264enc", ("videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
                           "speed-preset=ultrafast key-int-max=%d bitrate=%d" % (gop, kbps))
    return None, None


def main(argv):
    host, port, path, w, h, fps, kbps = argv[1], int(argv[2]), argv[3], int(argv[4]), \
        int(argv[5]), float(argv[6]), int(argv[7])
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as e:
        print("error: GStreamer's Python bindings or RTSP server are missing (%s)" % e, flush=True)
        return 3
    Gst.init(None)
    name, chain = encoder_chain(Gst, fps, kbps)
    if name is None:
        print("error: no H.264 encoder (x264enc from gstreamer1.0-plugins-ugly, or "
              "nvv4l2h264enc on a Jetson)", flush=True)
        return 3
    rate = "%d/1000" % int(round(fps * 1000))
    launch = ("( appsrc name=src is-live=true do-timestamp=true format=time max-buffers=4 "
              "leaky-type=upstream caps=video/x-raw,format=BGR,width=%d,height=%d,framerate=%s "
              "! %s ! rtph264pay name=pay0 pt=96 config-interval=1 )" % (w, h, rate, chain))
    appsrcs, lock = [], threading.Lock()

    def configure(_factory, media):
        src = media.get_element().get_child_by_name("src")
        with lock:
            appsrcs.append(src)

        def gone(_media):
            with lock:
                if src in appsrcs:
                    appsrcs.remove(src)
        media.connect("unprepared", gone)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service(str(port))
    server.get_mount_points().add_factory(path, factory)
    if not server.attach(None):
        print("error: cannot listen on %s:%d (port in use, or an address this machine does not "
              "have)" % (host, port), flush=True)
        return 3
    loop = GLib.MainLoop()

    def feed():
        size, stdin = w * h * 3, sys.stdin.buffer
        while True:
            data = stdin.read(size)
            if len(data) < size:
                break
            with lock:
                targets = list(appsrcs)
            for src in targets:
                src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        GLib.idle_add(loop.quit)

    threading.Thread(target=feed, daemon=True).start()
    print("ready %s" % name, flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
