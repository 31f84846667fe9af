"""ssd-live: run a detector on a camera, stream, video or folder; show, record and serve the result.

    ssd-live --model model.onnx                         # camera 0 to a window
    ssd-live --model model.onnx --source rtsp://cam/1 --headless --serve 8080
    ssd-live --model model.onnx --source in.mp4 --output out.mp4 --output out.jsonl
    ssd-live --source rtsp://cam/1 --source rtsp://cam/2 --track bytetrack \
             --output cam-{stream}.jsonl --output rtsp://127.0.0.1:8554/cam{stream}
"""
import argparse
import contextlib
import logging
import sys

from ..errors import SsdEdgeError
from .common import (BACKEND_CHOICES, cli_entry, add_threads_flag, decoder_noise_filtered,
                     threads_arg)
from .ranges import check_numeric_args
from .live_multi import add_track_flags, run_multi, track_options


def parse_thresholds(text):
    """``"0.5"`` / ``"person=0.6,car=0.4"`` / ``"0.3,person=0.6"`` → ``(conf or None, {label: t})``."""
    conf, per_class = None, {}
    for item in (p.strip() for p in str(text).split(",") if p.strip()):
        name, eq, value = item.rpartition("=")
        try:
            v = float(value)
        except ValueError:
            v = None
        if v is None or not 0.0 <= v <= 1.0 or (eq and not name.strip()):
            raise SsdEdgeError("expected --threshold 0.5 or class=value pairs such as "
                               "person=0.6,car=0.4 (values in [0, 1]), got %r" % text)
        if eq:
            per_class[name.strip()] = v
        else:
            conf = v
    return conf, per_class


def detector_kwargs(args):
    """Keyword arguments for ``Detector.load`` from the shared model flags (only those given)."""
    kw = {"backend": args.backend}
    if args.threshold is not None:
        conf, per_class = parse_thresholds(args.threshold)
        if conf is not None:
            kw["conf_threshold"] = conf
        if per_class:
            kw["class_thresholds"] = per_class
    if args.iou is not None:
        kw["iou_threshold"] = args.iou
    if args.classes:
        kw["classes"] = [c.strip() for c in args.classes.split(",") if c.strip()]
    if args.device:
        kw["device"] = args.device
    if args.fp16 is not None:
        kw["fp16"] = args.fp16
    if args.compile:
        kw["torch_compile"] = True
    for key in ("labels", "net", "resolution"):
        if getattr(args, key, None):
            kw[key] = getattr(args, key)
    for key in ("mean", "std"):
        if getattr(args, key, None):
            kw[key] = parse_triple(getattr(args, key), "--" + key)
    if threads_arg(args.threads):
        kw["threads"] = args.threads
    return kw


def parse_triple(text, flag):
    """``"127,127,127"`` (or one number for all channels) → 3 floats; one error line otherwise."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise SsdEdgeError("expected %s as 3 comma-separated numbers (or one for all channels), "
                           "got %r" % (flag, text))
    return tuple(values)


def add_model_flags(p):
    """Flags shared by ssd-live and ssd-detect."""
    p.add_argument("--model", help="model artifact (.onnx, .engine, .pth) or a served "
                   "model triton://HOST:PORT/NAME; default: the bundled one")
    p.add_argument("--backend", default="auto", choices=BACKEND_CHOICES)
    p.add_argument("--device", help="backend device: cpu, cuda[:N] (torch, ort) or tensorrt (ort)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", dest="fp16", action="store_const", const=True,
                      help="torch backend: FP16 weights (the default on CUDA)")
    prec.add_argument("--fp32", dest="fp16", action="store_const", const=False,
                      help="torch backend: FP32 weights on CUDA")
    p.add_argument("--compile", action="store_true",
                   help="torch backend: torch.compile the network (slow first frame, then faster)")
    p.add_argument("--threshold", help="confidence threshold (default 0.4), or per class: "
                   "person=0.6,car=0.4")
    p.add_argument("--iou", type=float, help="NMS IoU threshold (default 0.45)")
    p.add_argument("--classes", help="keep only these classes, e.g. person,car")
    p.add_argument("--labels", help="labels.txt: class names of a .pth or of an ONNX without "
                   "ssd-edge metadata (BACKGROUND first)")
    p.add_argument("--mean", help="an ONNX without metadata: per-channel mean on 0..255 RGB, "
                   "e.g. 127,127,127")
    p.add_argument("--std", help="an ONNX without metadata: per-channel std, e.g. 128,128,128")
    p.add_argument("--net", help="an ONNX without metadata: its zoo net instead of --mean/--std")
    p.add_argument("--resolution", help="a .pth's input size, N or WxH (UltraFace: 320 = "
                   "320x240, 640 = 640x480)")
    p.add_argument("--overlay", default="box,labels,conf",  # stream.overlay.DEFAULT_OVERLAY
                   help="comma list of box, lines, labels, conf, or none (default: no class "
                   "name on a one-class model such as a face detector)")
    p.add_argument("--alpha", type=float, default=0.25, help="box fill opacity in [0, 1]")
    add_threads_flag(p)


def build_parser():
    p = argparse.ArgumentParser(prog="ssd-live", description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="V4L2 camera number (default 0)")
    src.add_argument("--source", metavar="URI", action="append",
                     help="path, /dev/videoN, csi://N, rtsp://, http(s):// MJPEG, gst://PIPELINE, "
                     "demo://; repeat for several sources batched through one model")
    p.add_argument("--output", action="append", default=[], metavar="URI",
                   help="display://0, out.mp4, out/%%05d.jpg or out.jsonl; repeat for several; "
                   "{stream} ({name}) in the name: one output per source")
    p.add_argument("--serve", metavar="[HOST:]PORT", help="serve page, MJPEG, /stats, /detections")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="with --serve on a non-loopback address: a further name clients may "
                   "use for this machine in the Host header (repeat for several)")
    p.add_argument("--headless", action="store_true", help="never open a window")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--width", type=int, help="frame width, with --height: asked of a camera, "
                   "frames resized to it otherwise")
    p.add_argument("--height", type=int, help="frame height, with --width")
    p.add_argument("--rate", type=float,
                   help="frames per second (camera request / file pacing); default: a camera's "
                        "own, files as fast as possible, or at their own rate with --serve")
    p.add_argument("--flip", default="none", help="none, horizontal, vertical, rotate-180, "
                   "clockwise, counterclockwise")
    p.add_argument("--loop", type=int, default=0, help="extra passes over a file; -1 forever")
    p.add_argument("--status", action="store_true", help="status line even when not on a TTY")
    p.add_argument("--quiet", action="store_true", help="no status line and no summary")
    add_model_flags(p)
    add_track_flags(p)
    return p


def make_sinks(args):
    from ..runtime.stream import DisplaySink, open_sink
    sinks = [open_sink(u) for u in args.output]
    if args.headless:
        shown = [s for s in sinks if isinstance(s, DisplaySink)]
        if shown:
            raise SsdEdgeError("expected no display:// output with --headless, got %s"
                               % shown[0].uri)
    elif not sinks and args.serve is None:
        sinks = [DisplaySink("display://0")]
    for s in sinks:
        if isinstance(s, DisplaySink):
            s.open()            # fail before the model loads when there is no screen
    return sinks


def source_options(args):
    """SourceOptions from the flags; with ``--serve`` a video file plays at its own frame rate
    unless ``--rate`` says otherwise (a browser shows it as it was filmed)."""
    from ..runtime.stream import SourceOptions
    return SourceOptions(width=args.width, height=args.height, rate=args.rate,
                         native_rate=args.serve is not None, flip=args.flip, loop=args.loop)


@cli_entry("ssd-live")
def main(argv=None):
    args = check_numeric_args(build_parser().parse_args(argv))
    log_to_stderr("ssd-live")
    # A broken camera makes libjpeg & co. print a line per corrupt frame, from C, on fd 2.
    with decoder_noise_filtered("ssd-live", report=not args.quiet):
        return _run(args)


def _run(args):
    from ..runtime import stream as st
    src_opts = source_options(args)
    pipe_opts = st.PipelineOptions(max_frames=args.max_frames, duration=args.duration,
                                   status=not args.quiet and (args.status or sys.stderr.isatty()))
    overlay = st.OverlayOptions.parse(args.overlay, alpha=args.alpha)
    kwargs = detector_kwargs(args)
    uris = args.source if args.source else [args.camera or 0]
    if len(uris) > 1:
        return run_multi(args, uris, src_opts, pipe_opts, overlay, kwargs)
    from ..runtime.stream.multi_outputs import expand_output, source_name
    args.output = [expand_output(u, 0, source_name(uris[0])) for u in args.output]
    topts = track_options(args)
    if topts.enabled:
        from ..runtime.stream.tracking import Tracker, TrackedDetector, require_trackers
        require_trackers()
    source = st.make_source(uris[0], src_opts)      # a bad URI fails before anything opens
    with contextlib.ExitStack() as stack:
        sinks = make_sinks(args)
        for s in sinks:
            stack.callback(s.close)
        stats = st.Stats()
        if args.serve is not None:
            server = stack.enter_context(_closing(st.MjpegServer(args.serve, stats=stats,
                                                                     allow_hosts=args.allow_host
                                                                     ).start()))
            sinks.append(server)
            logging.getLogger("ssd_edge.stream").info("serving on %s", server.url)
        source.open()
        stack.callback(source.close)
        det = st.load_detector(args.model, **kwargs)
        stack.callback(getattr(det, "close", lambda: None))
        from ..runtime.stream.overlay import DEFAULT_OVERLAY
        overlay = overlay.for_model(det.spec.num_classes, args.overlay != DEFAULT_OVERLAY)
        if topts.enabled:
            det = TrackedDetector(det, Tracker(topts, fps=source.fps))
        stats.describe(det, args.model).source = source.uri
        pipe = st.Pipeline(source, det, sinks, overlay=overlay, options=pipe_opts, stats=stats)
        with st.stop_on_signals(pipe):
            pipe.run()
        if not args.quiet:
            print(stats.summary(), file=sys.stderr)
    return 0


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a line is logged (not the stream of
    the moment it was made: a command run in-process, e.g. from a test, may swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def log_to_stderr(prog):
    """ssd-edge's own log lines (backend choice, reconnects, signals) on stderr as ``prog: ...``."""
    logger = logging.getLogger("ssd_edge")
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        if logger.handlers:
            return                 # a program embedding ssd-edge configured its own logging
        handler = _StderrHandler()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(prog + ": %(message)s"))


@contextlib.contextmanager
def _closing(server):
    try:
        yield server
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
