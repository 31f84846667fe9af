"""ssd-live with several ``--source``: per-stream outputs, one batched Detector (see
:mod:`ssd_edge.runtime.stream.multi`)."""
import contextlib
import logging
import sys

from ..errors import SsdEdgeError

log = logging.getLogger("ssd_edge.stream")


def track_options(args):
    from ..runtime.stream.tracking import TrackOptions
    return TrackOptions(method=args.track, lost_track_buffer=args.track_buffer,
                        track_activation_threshold=args.track_activation,
                        minimum_consecutive_frames=args.track_min_frames,
                        minimum_iou_threshold=args.track_iou,
                        high_conf_det_threshold=args.track_high)


def add_track_flags(p):
    g = p.add_argument_group("tracking (the trackers library)")
    g.add_argument("--track", default="none", choices=("none", "bytetrack", "sort", "ocsort"),
                   help="track objects across frames: track_id in outputs (default none)")
    g.add_argument("--track-buffer", type=int, metavar="N",
                   help="frames (at 30 FPS) a lost track is kept (library default 30)")
    g.add_argument("--track-activation", type=float, metavar="S",
                   help="minimum score to start a track (bytetrack 0.7, sort 0.25)")
    g.add_argument("--track-min-frames", type=int, metavar="N",
                   help="matched frames before a track gets an id (bytetrack 2, sort/ocsort 3)")
    g.add_argument("--track-iou", type=float, metavar="T",
                   help="minimum IoU to match a detection to a track (bytetrack 0.1, others 0.3)")
    g.add_argument("--track-high", type=float, metavar="S",
                   help="bytetrack/ocsort: score splitting the two matching stages (0.6)")


def stream_sinks(uris, states, open_sink):
    """Per-stream sinks for ``uris`` (``{stream}``/``{name}`` expanded; one ``.jsonl`` shared)."""
    from ..runtime.stream.multi_outputs import StreamTagged, check_single_outputs, expand_output
    check_single_outputs(uris, len(states))
    shared = []
    for uri in uris:
        if "{stream}" in uri or "{name}" in uri:
            for s in states:
                s.sinks.append(open_sink(expand_output(uri, s.index, s.name)))
        else:
            sink = open_sink(uri)
            shared.append(sink)
            for s in states:
                s.sinks.append(StreamTagged(sink, s.index) if len(states) > 1 else sink)
    return shared


def run_multi(args, uris, src_opts, pipe_opts, overlay, kwargs):
    """Open every source (a dead one is reported, the rest go on), then run them batched."""
    from ..runtime import stream as st
    from ..runtime.stream.multi import MultiPipeline, StreamState
    from ..runtime.stream.multi_outputs import StreamTagged, source_name
    topts = track_options(args)
    if topts.enabled:
        from ..runtime.stream.tracking import require_trackers
        require_trackers()
    made = [st.make_source(u, src_opts) for u in uris]     # bad URIs fail before anything opens
    names = [source_name(u) for u in uris]
    with contextlib.ExitStack() as stack:
        states = []
        for i, (src, name) in enumerate(zip(made, names)):
            states.append(StreamState(i, src, name=name))
        shared = stream_sinks(args.output, states, st.open_sink)
        for s in states:
            for k in s.sinks:
                stack.callback(getattr(k, "shared", k).close)
        stats = st.Stats()
        if args.serve is not None:
            server = st.MjpegServer(args.serve, stats=stats).start()
            stack.callback(server.close)
            for s in states:
                s.sinks.append(StreamTagged(server, s.index))
            log.info("serving on %s", server.url)
        opened = []
        for s in states:
            try:
                s.source.open()
                stack.callback(s.source.close)
                opened.append(s)
            except SsdEdgeError as e:
                log.warning("stream %d (%s) failed to open: %s; the other streams go on",
                            s.index, s.source.uri, e)
                s.stats.state, s.stats.error = "failed", str(e)
                for k in s.sinks:
                    if not isinstance(k, StreamTagged):
                        k.close()
                s.sinks = []
        if not opened:
            raise SsdEdgeError("expected at least one of the %d sources to open, got none (see "
                               "the lines above)" % len(states))
        det = st.load_detector(args.model, **kwargs)
        stack.callback(getattr(det, "close", lambda: None))
        if getattr(getattr(det, "backend", None), "batch_size", None) == 1:
            log.info("this model has a fixed batch of 1: one inference call per frame; export "
                     "with --dynamic-batch to batch the %d streams", len(opened))
        if topts.enabled:
            from ..runtime.stream.tracking import Tracker
            for s in opened:
                s.tracker = Tracker(topts, fps=s.source.fps)
        stats.describe(det, args.model)
        pipe = MultiPipeline(opened, det, overlay=overlay, options=pipe_opts, stats=stats)
        stats.streams = [s.stats for s in states]        # failed-to-open ones stay listed
        with st.stop_on_signals(pipe):
            pipe.run()
        if not args.quiet:
            print(stats.summary(), file=sys.stderr)
            for s in states:
                e = s.stats
                print("  stream %d %s: %d frames, dropped %d, %s%s" % (
                    s.index, s.source.uri, e.frames, e.dropped, e.state,
                    ": " + e.error if e.error else ""), file=sys.stderr)
    return 0
