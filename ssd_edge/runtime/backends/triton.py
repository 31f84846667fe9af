"""Triton backend: a ``triton://HOST:PORT/NAME`` model served by Triton Inference Server.

Two kinds of served model (the ``ssd_edge.role`` parameter of its config says which):

* the network (``NAME``): the Detector pre- and post-processes locally, exactly as for a local
  file, and each call is one request of ``(B, 3, H, W)``; many threads calling one Detector
  become concurrent requests that the server's dynamic batcher merges;
* the pipeline (``NAME_pipeline``): the backend owns the frame path — ``detect_batch`` sends each
  uint8 BGR frame as its own request, all at once (asynchronously), and the server resizes,
  normalises, batches the network across requests and post-processes.

One instance is safe to share between threads: the gRPC client is thread-safe; the HTTP client
(gevent-based, usable only from the thread that made it) is kept one per thread.

With ``?shm=1`` in the URL the input tensors travel through system shared memory regions
registered with the server (:mod:`.triton_shm`); outputs, small, come back in the answer.
"""
import functools
import threading

import numpy as np

from ...detections import Detections
from ...errors import SsdEdgeError, missing_extra
from ..triton_spec import make_client, parse_triton_url

_PIPE_OUT = ("detection_boxes", "detection_scores", "detection_classes")
_NP = {"TYPE_FP32": "FP32", "TYPE_FP16": "FP16", "TYPE_INT32": "INT32", "TYPE_INT64": "INT64",
       "TYPE_UINT8": "UINT8"}
#: Seconds one inference request may take before the call fails.
REQUEST_TIMEOUT_S = 120.0


class TritonBackend:
    """The backend contract over tritonclient.

    ``thread_safe``: the Detector lets many threads call at once, so their requests overlap
    and the server's dynamic batcher can merge them (serialised, every batch would be 1).

    Args:
        artifact: an Artifact of kind ``triton`` (:func:`ssd_edge.runtime.triton_spec.open_triton`).
        threads, device: not used (the server decides); accepted for the common signature.
    """

    thread_safe = True

    def __init__(self, artifact, threads=None, device=None):
        try:
            import tritonclient.utils  # noqa: F401
        except ImportError:
            raise missing_extra("tritonclient", "triton")
        info = artifact.sidecar["triton"]
        self.url = parse_triton_url(info["url"])
        config = info["config"]
        self.role = info["role"]
        self.inputs = [t["name"] for t in config.get("input", [])]
        self.outputs = [t["name"] for t in config.get("output", [])]
        self._types = {t["name"]: _NP.get(t.get("data_type"), "FP32")
                       for t in config.get("input", [])}
        self.max_batch = int(config.get("max_batch_size", 0)) or None
        self.batch_size = None
        self.device = "triton %s %s" % (self.url.protocol, self.url.address)
        self.owns_frame_path = self.role == "pipeline"
        self.num_classes = artifact.spec.num_classes
        self._local = threading.local()
        self._opened = []                 # every per-thread HTTP client, closed by close()
        self._lock = threading.Lock()
        self._shared = make_client(self.url) if self.url.protocol == "grpc" else None
        self._pool = None
        if self.url.shm:
            from .triton_shm import ShmPool
            self._pool = ShmPool(self._client, self.url.address)
            # One region now, sized for one frame's input: says at once if the server cannot
            # map it, and the first call needs no new region.
            self._pool.release(self._pool.acquire(self._frame_bytes(config)))

    @staticmethod
    def _frame_bytes(config):
        """Bytes of one frame's inputs where the config fixes them (the network), else 1."""
        size = {"TYPE_FP32": 4, "TYPE_FP16": 2, "TYPE_UINT8": 1, "TYPE_INT32": 4}
        total = 0
        for t in config.get("input", []):
            dims = [int(d) for d in t.get("dims", [])]
            if any(d < 0 for d in dims):
                return 1
            n = size.get(t.get("data_type"), 4)
            for d in dims:
                n *= d
            total += n
        return max(total, 1)

    def _client(self):
        if self._shared is not None:
            return self._shared
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = make_client(self.url, concurrency=16)
            with self._lock:
                self._opened.append(client)
        return client

    def _inputs(self, arrays, spans=None):
        """InferInputs of ``{name: array}``; with ``spans``, each array already sits in the
        shared memory ``spans = (region, [(offset, nbytes)])``."""
        if self.url.protocol == "grpc":
            import tritonclient.grpc as tc
        else:
            import tritonclient.http as tc
        out = []
        for i, (name, arr) in enumerate(arrays.items()):
            x = tc.InferInput(name, list(arr.shape), self._types.get(name, "FP32"))
            if spans is None:
                x.set_data_from_numpy(np.ascontiguousarray(arr))
            else:
                offset, nbytes = spans[1][i]
                x.set_shared_memory(spans[0].name, nbytes, offset)
            out.append(x)
        return out

    def _packed(self, requests):
        """InferInputs for each ``{name: array}`` request, and the shared memory region they
        were written to (None without ``shm=1``; give it back with ``self._pool.release``)."""
        if self._pool is None:
            return [self._inputs(r) for r in requests], None
        from .triton_shm import packed_size
        arrays = [a for r in requests for a in r.values()]
        region = self._pool.acquire(packed_size(arrays))
        try:
            spans = self._pool.write(region, arrays)
            out, k = [], 0
            for r in requests:
                out.append(self._inputs(r, (region, spans[k:k + len(r)])))
                k += len(r)
            return out, region
        except Exception:
            self._pool.release(region)
            raise

    def _release(self, region):
        if region is not None:
            self._pool.release(region)

    def _requested(self, names):
        if self.url.protocol == "grpc":
            import tritonclient.grpc as tc
        else:
            import tritonclient.http as tc
        return [tc.InferRequestedOutput(n) for n in names]

    def __call__(self, feeds):
        """One request with the whole batch; returns output name → array (network role)."""
        if self.role == "pipeline":
            raise SsdEdgeError("expected frames for %s (a pipeline), got tensors" % self.url)
        (inputs,), region = self._packed([feeds])
        try:
            result = self._infer(inputs, self.outputs)
        finally:
            self._release(region)       # the answer is in: the server is done reading it
        return {n: result.as_numpy(n) for n in self.outputs}

    def _infer(self, inputs, outputs):
        from tritonclient.utils import InferenceServerException
        kwargs = {"client_timeout": REQUEST_TIMEOUT_S} if self.url.protocol == "grpc" else {}
        try:
            return self._client().infer(self.url.name, inputs,
                                        outputs=self._requested(outputs), **kwargs)
        except InferenceServerException as e:
            raise SsdEdgeError("Triton server %s failed %s: %s" % (self.url.address,
                                                                   self.url.name, _line(e)))

    def detect_batch(self, frames, options):
        """Pipeline role: each ``(H, W, 3) uint8`` BGR frame as a concurrent request.

        Returns one :class:`Detections` per frame, boxes in that frame's pixels.
        """
        thr = options.thresholds or (options.conf_threshold,) * self.num_classes
        thr = np.asarray([thr], np.float32)
        nms = np.asarray([[options.iou_threshold, options.candidate_size, options.top_k,
                           options.max_detections]], np.float32)
        requests, region = self._packed([{"frame": np.ascontiguousarray(f)[None],
                                          "thresholds": thr, "nms_options": nms}
                                         for f in frames])
        # A region goes back to the pool only once every request has answered (not after a
        # timeout, when the server may still read it; close() removes it then).
        if self.url.protocol == "grpc":
            answers = self._gather_grpc(requests)
        else:
            client = self._client()
            pending = [client.async_infer(self.url.name, r, outputs=self._requested(_PIPE_OUT))
                       for r in requests]
            answers = [self._answer(p.get_result) for p in pending]
        self._release(region)
        results = [self._result(lambda a=a: a) for a in answers]
        return [self._detections(r, options.labels) for r in results]

    def _gather_grpc(self, requests):
        done = threading.Event()
        results = [None] * len(requests)
        left = [len(requests)]
        lock = threading.Lock()

        def finish(i, result, error):
            results[i] = error if error is not None else result
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    done.set()

        for i, r in enumerate(requests):
            # tritonclient calls back with keywords: callback(result=..., error=...).
            self._shared.async_infer(self.url.name, r, functools.partial(finish, i),
                                     outputs=self._requested(_PIPE_OUT),
                                     client_timeout=REQUEST_TIMEOUT_S)
        if requests and not done.wait(REQUEST_TIMEOUT_S + 10.0):
            raise SsdEdgeError("expected answers from the Triton server %s within %.0f s, got "
                               "%d of %d" % (self.url.address, REQUEST_TIMEOUT_S,
                                             len(requests) - left[0], len(requests)))
        return results

    @staticmethod
    def _answer(get):
        """The result of ``get()``, or the exception it raised (re-raised by :meth:`_result`)."""
        try:
            return get()
        except Exception as e:     # noqa: BLE001 - handed to _result, which raises it
            return e

    def _result(self, get):
        from tritonclient.utils import InferenceServerException
        try:
            result = get()
            if isinstance(result, Exception):
                raise result
            return result
        except InferenceServerException as e:
            raise SsdEdgeError("Triton server %s failed %s: %s" % (self.url.address,
                                                                   self.url.name, _line(e)))

    @staticmethod
    def _detections(result, labels):
        boxes = result.as_numpy("detection_boxes")[0]
        scores = result.as_numpy("detection_scores")[0]
        classes = result.as_numpy("detection_classes")[0].astype(np.int64)
        return Detections(boxes, scores, classes, [labels[c] for c in classes])

    def close(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        client, self._shared = self._shared, None
        if client is not None:
            client.close()
        with self._lock:
            opened, self._opened = self._opened, []
        for c in opened:
            try:
                c.close()
            except Exception:   # a client of a thread that has ended may already be closed
                pass


def _line(e):
    text = str(getattr(e, "message", lambda: None)() or e).strip()
    return (text.splitlines() or [repr(e)])[0]
