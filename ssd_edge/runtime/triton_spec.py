"""``triton://HOST:PORT/NAME``: a model served by Triton Inference Server, read as an artifact.

The URL names a model in a repository ``ssd-export --triton`` wrote; its spec comes from the
model's config on the server (``parameters["ssd_edge.spec"]``), so the client needs no local file.

URL form: ``triton://HOST[:PORT]/NAME[?protocol=grpc|http][&shm=1]``. gRPC is the default (port
8001, Triton's default; thread-safe, so one Detector serves many threads); ``protocol=http``
talks to the HTTP endpoint (default port 8000). ``shm=1`` sends the input tensors through system
shared memory instead of inside each request (a client on the server's own machine; see
:mod:`ssd_edge.runtime.backends.triton_shm`). ``NAME`` is the network (the Detector pre- and
post-processes locally) or ``NAME_pipeline`` (frames go to the server, detections come back).

``tritonclient`` (``pip install "ssd-edge[triton]"``) is imported only here and in the backend.
"""
import json
from dataclasses import dataclass

from ..contract import SPEC_KEY
from ..errors import SsdEdgeError, missing_extra

SCHEME = "triton://"
PROTOCOLS = {"grpc": 8001, "http": 8000}
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
#: Seconds a client waits for the server before saying it is down.
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TritonURL:
    """A parsed ``triton://`` URL: ``host``, ``port``, model ``name``, ``protocol``, ``shm``
    (inputs through system shared memory)."""

    host: str
    port: int
    name: str
    protocol: str = "grpc"
    shm: bool = False

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def __str__(self):
        query = [] if self.protocol == "grpc" else ["protocol=" + self.protocol]
        query += ["shm=1"] if self.shm else []
        return "%s%s/%s%s" % (SCHEME, self.address, self.name,
                              "?" + "&".join(query) if query else "")


def is_triton_url(path):
    """True for a ``triton://`` string (any case)."""
    return isinstance(path, str) and path[:len(SCHEME)].lower() == SCHEME


def parse_triton_url(url):
    """Parse ``triton://HOST[:PORT]/NAME[?protocol=grpc|http][&shm=1]``; raise naming the
    expected form."""
    from urllib.parse import parse_qs, urlsplit
    form = "triton://HOST[:PORT]/NAME[?protocol=grpc|http][&shm=1]"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise SsdEdgeError("expected a model URL %s, got %r (%s)" % (form, url, e))
    query = parse_qs(parts.query)
    protocol = (query.pop("protocol", ["grpc"])[-1] or "grpc").lower()
    shm = query.pop("shm", ["0"])[-1].lower()
    name = parts.path.strip("/")
    if not parts.hostname or not name or "/" in name or query or protocol not in PROTOCOLS \
            or shm not in _FLAGS:
        raise SsdEdgeError("expected a model URL %s, got %r" % (form, url))
    return TritonURL(parts.hostname, port or PROTOCOLS[protocol], name, protocol, _FLAGS[shm])


def make_client(url, concurrency=1):
    """A tritonclient ``InferenceServerClient`` for ``url`` (gRPC or HTTP)."""
    try:
        if url.protocol == "grpc":
            import tritonclient.grpc as tc
            return tc.InferenceServerClient(url.address)
        import tritonclient.http as tc
        return tc.InferenceServerClient(url.address, concurrency=concurrency,
                                        connection_timeout=CONNECT_TIMEOUT_S,
                                        network_timeout=300.0)
    except ImportError:
        raise missing_extra("tritonclient", "triton")


def read_model(url, client=None):
    """Check the server and model and return ``(config dict, {parameter: str})``.

    Raises :class:`SsdEdgeError` for a server that is down, a model that is not ready and a
    model without ``ssd_edge.spec`` (not written by ``ssd-export --triton``).
    """
    client = client or make_client(url)
    live = _ask(url, lambda: client.is_server_live(**_timeout(url)))
    if not live:
        raise SsdEdgeError("expected a live Triton server at %s, got one that reports not live"
                           % url.address)
    if not _ask(url, lambda: client.is_model_ready(url.name)):
        raise SsdEdgeError("expected model %r to be ready on the Triton server at %s, got %s; "
                           "check the server's log and model repository"
                           % (url.name, url.address, _model_state(url, client)))
    config = _ask(url, lambda: client.get_model_config(url.name, **_json(url)))
    if url.protocol == "grpc":
        config = config.get("config", config)
    params = {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}
    if SPEC_KEY not in params:
        raise SsdEdgeError("expected model %r on %s to be an ssd-edge export (parameter "
                           "ssd_edge.spec in its config), got a config without it; write the "
                           "repository with: ssd-export MODEL --triton DIR" % (url.name,
                                                                              url.address))
    return config, params


def open_triton(url_text, labels=None, mean=None, std=None):
    """The :class:`~ssd_edge.runtime.artifact.Artifact` of a served model (kind ``triton``)."""
    from .artifact import Artifact, _apply_overrides, _parse_spec
    url = parse_triton_url(url_text)
    config, params = read_model(url)
    spec = _parse_spec(params[SPEC_KEY], url.name)
    role = params.get("ssd_edge.role", "network")
    if role == "pipeline" and (mean is not None or std is not None):
        raise SsdEdgeError("expected no mean/std override for %s, which pre-processes on the "
                           "server; load the network %s instead" % (url, params.get(
                               "ssd_edge.network", "NAME")))
    spec = _apply_overrides(spec, labels, None, mean, std, url.name, False)
    nms = params.get("ssd_edge.nms")
    try:
        nms = json.loads(nms) if nms else None
    except ValueError:
        nms = None
    sidecar = {"nms": nms, "triton": {"url": str(url), "role": role, "config": config}}
    return Artifact(str(url), "triton", spec, spec.precision, None, sidecar, None, False)


def _timeout(url):
    return {"client_timeout": CONNECT_TIMEOUT_S} if url.protocol == "grpc" else {}


def _json(url):
    return {"as_json": True, "client_timeout": CONNECT_TIMEOUT_S} if url.protocol == "grpc" \
        else {}


def _ask(url, call):
    """Run one client call; a transport failure becomes 'server down' in one line."""
    from tritonclient.utils import InferenceServerException
    try:
        return call()
    except InferenceServerException as e:
        raise SsdEdgeError("expected a Triton server at %s (%s), got no answer: %s; start "
                           "tritonserver or fix the URL" % (url.address, url.protocol.upper(),
                                                            _first_line(e)))
    except OSError as e:       # HTTP client: connection refused, unreachable host
        raise SsdEdgeError("expected a Triton server at %s (%s), got no answer: %s; start "
                           "tritonserver or fix the URL" % (url.address, url.protocol.upper(),
                                                            e.strerror or e))


def _model_state(url, client):
    try:
        index = client.get_model_repository_index(**_json(url))
    except Exception:   # the index is only for the message; any failure leaves it out
        return "it not ready"
    models = index.get("models", []) if isinstance(index, dict) else index
    for m in models:
        if m.get("name") == url.name:
            return "state %s%s" % (m.get("state", "UNKNOWN"),
                                   ": " + m["reason"] if m.get("reason") else "")
    names = sorted(m.get("name", "") for m in models)
    return "no such model (the server has: %s)" % (", ".join(names) or "none")


def _first_line(e):
    text = str(getattr(e, "message", lambda: None)() or e).strip()
    return (text.splitlines() or [repr(e)])[0]
