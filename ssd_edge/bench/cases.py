"""What to benchmark: options, the (artifact, backend, batch) cases, and opening each one.

A backend that cannot run an artifact's kind is left out unless it was asked for by name; a
backend that could run it but whose package is missing becomes a ``skipped`` result with the
reason (the pip extra to install), never a crash. Besides the registered runtime backends there
is one peer, ``pytorch-ssd`` (:mod:`ssd_edge.bench.pytorch_ssd`), for ``.pth`` checkpoints.
"""
import inspect
import os
from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import SsdEdgeError
from ..runtime.artifact import artifact_kind
from ..runtime.backends import (BACKENDS, KINDS, PACKAGES, backend_class, is_installed,
                                owns_frame_path)
from ..spec import NmsDefaults
from .pytorch_ssd import NAME as PEER

_NMS = NmsDefaults()   # pytorch-ssd's Predictor defaults, as the Detector's

#: Every name ``--backend`` accepts, in the order results are listed.
BENCH_BACKENDS = tuple(BACKENDS) + (PEER,)
_KINDS = dict(KINDS, **{PEER: ("pth",)})
METRICS = ("voc07", "voc12", "coco")


@dataclass(frozen=True)
class BenchOptions:
    """How ``ssd-bench`` measures; each flag maps onto one field.

    Attributes:
        backends: backend names; empty = every one that runs the artifact's kind.
        batches: batch sizes (frames per ``detect_batch`` call).
        iterations: timed calls per case; warmup: untimed calls before them.
        max_seconds: stop timing a case after this long (at least ``min_iterations`` calls
            still run); 0 = no limit.
        threads: CPU threads for the backend (None = its default); device: backend device.
        frame_size: ``(W, H)`` of the synthetic BGR frames fed to the detector.
        conf_threshold, iou_threshold: post-processing settings while timing.
        host_nms: also time backends that own the frame path (torch on CUDA) with NMS on the
            host; torch_precision: precisions to request from a torch backend that offers a
            choice (empty = its default).
        peer_max_batch: largest batch timed for the pytorch-ssd peer, whose Predictor takes one
            frame at a time (0 = every batch).
        data, split, metric, map_threshold: with ``data``, the mAP of each artifact on that
            dataset at ``map_threshold`` (pytorch-ssd's evaluation threshold, 0.01).
    """

    backends: Tuple[str, ...] = ()
    batches: Tuple[int, ...] = (1,)
    iterations: int = 100
    warmup: int = 10
    max_seconds: float = 0.0
    min_iterations: int = 5
    threads: Optional[int] = None
    device: Optional[str] = None
    frame_size: Tuple[int, int] = (640, 480)
    conf_threshold: float = _NMS.conf_threshold
    iou_threshold: float = _NMS.iou_threshold
    host_nms: bool = False
    torch_precision: Tuple[str, ...] = ()
    peer_max_batch: int = 0
    data: Optional[str] = None
    split: Optional[str] = None
    metric: str = "voc07"
    map_threshold: float = 0.01
    progress: bool = True
    seed: int = 0


@dataclass(frozen=True)
class Case:
    """One measurement: ``path`` on ``backend`` at ``batch``; ``nms`` is ``"auto"`` (wherever
    the backend runs it) or ``"host"`` (forced onto the CPU); ``precision`` a torch request."""

    path: str
    backend: str
    batch: int
    nms: str = "auto"
    precision: Optional[str] = None


def parse_int_list(text, what="--batch"):
    """``"1,8"`` → ``(1, 8)``; raises SsdEdgeError for anything but positive integers."""
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise SsdEdgeError("expected %s as comma-separated positive integers such as 1,8, got %r"
                           % (what, text))
    return tuple(dict.fromkeys(values))


def parse_backends(text):
    """``"ort,openvino"`` → ``("ort", "openvino")``; unknown names raise SsdEdgeError."""
    names = tuple(dict.fromkeys(n.strip() for n in str(text).split(",") if n.strip()))
    bad = [n for n in names if n not in BENCH_BACKENDS]
    if not names or bad:
        raise SsdEdgeError("unknown backend %s; expected a comma-separated list of %s"
                           % (", ".join(repr(b) for b in bad) or repr(text),
                              ", ".join(BENCH_BACKENDS)))
    return names


def check_model_path(path):
    """Raise SsdEdgeError unless ``path`` is an existing file of a kind a backend runs (or a
    ``triton://`` URL, checked when it is opened)."""
    if artifact_kind(path) == "triton":
        return
    if not os.path.isfile(path):
        raise SsdEdgeError("expected a model file at %s, got nothing there (not found)" % path)


def missing_reason(backend):
    """Why ``backend`` cannot run here (its package is absent), or None when it can."""
    if backend == PEER:
        for name in ("torch", "cv2"):
            if not _has_module(name):
                return "%s is not installed; install it with: pip install \"ssd-edge[export]\"" \
                    % name
        return None
    if is_installed(backend):
        return None
    try:
        backend_class(backend)
    except SsdEdgeError as e:
        return str(e)
    return "%s is not installed" % PACKAGES[backend][0]


def _has_module(name):
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def plan(paths, options):
    """Return ``(cases, skipped)``: the cases to run, and ``(path, backend, batch, reason)``
    tuples (``batch`` None when the reason holds for every batch)."""
    cases, skipped = [], []
    for path in paths:
        kind = artifact_kind(path)
        for backend in options.backends or BENCH_BACKENDS:
            if kind not in _KINDS[backend]:
                if options.backends:
                    skipped.append((path, backend, None, "%s runs %s files, not .%s" % (
                        backend, "/".join("." + k for k in _KINDS[backend]), kind)))
                continue
            why = missing_reason(backend)
            if why:
                skipped.append((path, backend, None, why))
                continue
            for precision in (options.torch_precision if backend == "torch" else ()) or (None,):
                for batch in options.batches:
                    if backend == PEER and 0 < options.peer_max_batch < batch:
                        skipped.append((path, backend, batch, "pytorch-ssd's Predictor takes one "
                                        "frame at a time; batches above %d are not timed"
                                        % options.peer_max_batch))
                        continue
                    cases.append(Case(path, backend, batch, "auto", precision))
                    if options.host_nms and backend == "torch":
                        cases.append(Case(path, backend, batch, "host", precision))
    return cases, skipped


def precision_kwargs(klass, backend, precision):
    """Constructor arguments asking backend class ``klass`` for ``precision`` (``fp16`` /
    ``fp32``): the torch backend's ``fp16`` flag, or a ``precision`` argument."""
    params = inspect.signature(klass.__init__).parameters
    if "fp16" in params:
        return {"fp16": precision == "fp16"}
    if "precision" in params:
        return {"precision": precision}
    raise SsdEdgeError("the %s backend takes no precision choice; it runs its default" % backend)


def open_case(case, options):
    """Open the detector a case measures: the Detector, or the pytorch-ssd peer.

    Raises SsdEdgeError when the case cannot run here (e.g. host NMS on a backend that already
    runs it on the host, a precision the backend cannot be asked for).
    """
    from ..runtime.detector import Detector
    kw = dict(threads=options.threads, device=options.device)
    post = dict(conf_threshold=options.conf_threshold, iou_threshold=options.iou_threshold)
    if case.backend == PEER:
        from .pytorch_ssd import PytorchSsdPredictor
        return PytorchSsdPredictor(case.path, **dict(kw, **post))
    if case.nms == "auto" and case.precision is None:
        return Detector.load(case.path, backend=case.backend, **dict(kw, **post))
    from ..runtime.artifact import open_artifact
    from ..runtime.backends import check_kind
    artifact = open_artifact(case.path)
    klass = backend_class(case.backend)
    check_kind(case.backend, artifact)
    if case.precision is not None:
        kw.update(precision_kwargs(klass, case.backend, case.precision))
    impl = klass(artifact, **kw)
    reason = "requested"
    if case.nms == "host":
        if not owns_frame_path(impl):
            impl.close()
            raise SsdEdgeError("NMS already runs on the host on this device (same as the "
                               "default case)")
        impl.owns_frame_path = False    # the backend contract's way to decline the frame path
        reason = "requested, NMS on the host"
    return Detector(artifact, impl, case.backend, reason, **post)
