"""The RTSP server process behind ``--output rtsp://HOST:PORT/PATH`` (see :mod:`.rtsp_out`).

Runs under the *system* Python, whose ``gi`` (Debian's ``python3-gi``) reaches GStreamer and its
RTSP server library; it imports nothing from ssd-edge, so the package need not be installed
there. One process serves one HOST:PORT with any number of paths (several sources, one port).

stdin carries messages, each a header ``struct "<cIIII"`` (kind, mount id, width, height,
payload length) and its payload:

* kind ``M``: add mount ``id`` serving ``width x height`` BGR frames; payload ``PATH\tFPS``;
* kind ``F``: one raw BGR frame (``width * height * 3`` bytes) for mount ``id``.

Each mount is served as H.264 RTP (``nvv4l2h264enc`` on a Jetson, ``x264enc`` elsewhere). Prints
one line on stdout: ``ready ENCODER`` once listening, or ``error: ...`` and exits 3. End of stdin
ends the process.

    python3 rtsp_child.py HOST PORT BITRATE_KBPS
"""
import struct
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


HEADER = struct.Struct("<cIIII")


def read_exact(stream, n):
    data = stream.read(n)
    return data if len(data) == n else None


def main(argv):
    host, port, kbps = argv[1], int(argv[2]), int(argv[3])
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as e:
        print("error: GStreamer's Python bindings or RTSP server are missing (%s)" % e, flush=True)
        return 3
    Gst.init(None)
    name, _ = encoder_chain(Gst, 30, kbps)
    if name is None:
        print("error: no H.264 encoder (x264enc from gstreamer1.0-plugins-ugly, or "
              "nvv4l2h264enc on a Jetson)", flush=True)
        return 3
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service(str(port))
    if not server.attach(None):
        print("error: cannot listen on %s:%d (port in use, or an address this machine does not "
              "have)" % (host, port), flush=True)
        return 3
    appsrcs, lock = {}, threading.Lock()      # mount id -> appsrc elements of its clients

    def add_mount(mount, path, w, h, fps):
        _, chain = encoder_chain(Gst, fps, kbps)
        rate = "%d/1000" % int(round(fps * 1000))
        launch = ("( appsrc name=src is-live=true do-timestamp=true format=time max-buffers=4 "
                  "leaky-type=upstream caps=video/x-raw,format=BGR,width=%d,height=%d,"
                  "framerate=%s ! %s ! rtph264pay name=pay0 pt=96 config-interval=1 )"
                  % (w, h, rate, chain))

        def configure(_factory, media):
            src = media.get_element().get_child_by_name("src")
            with lock:
                appsrcs.setdefault(mount, []).append(src)

            def gone(_media):
                with lock:
                    if src in appsrcs.get(mount, []):
                        appsrcs[mount].remove(src)
            media.connect("unprepared", gone)

        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        factory.connect("media-configure", configure)
        server.get_mount_points().add_factory(path, factory)
        return False

    loop = GLib.MainLoop()

    def feed():
        stdin = sys.stdin.buffer
        while True:
            head = read_exact(stdin, HEADER.size)
            if head is None:
                break
            kind, mount, w, h, size = HEADER.unpack(head)
            data = read_exact(stdin, size)
            if data is None:
                break
            if kind == b"M":
                path, _, fps = data.decode("utf-8").partition("\t")
                GLib.idle_add(add_mount, mount, path, w, h, float(fps))
                continue
            with lock:
                targets = list(appsrcs.get(mount, ()))
            for src in targets:
                src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        GLib.idle_add(loop.quit)

    threading.Thread(target=feed, daemon=True).start()
    print("ready %s" % name, flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
