"""What the ``--serve`` HTTP server accepts: which Host headers, how many connections, how long.

* **Host header.** A web page can make a browser fetch ``http://evil.example:8080/`` after
  pointing ``evil.example`` at 127.0.0.1 (DNS rebinding) and then read the camera. The server
  therefore answers only requests whose Host names it: bound to a loopback address, a loopback
  name or address with the bound port; bound to another address, also that address, this
  machine's host names and addresses (an IP literal is any address when bound to all
  interfaces), and the names given with ``--allow-host``.
* **Connections.** One thread per connection, at most :data:`MAX_CONNECTIONS` at once (a
  connection over the limit gets ``503`` and is closed), a listen backlog that absorbs a burst
  of :data:`BACKLOG` clients, and :data:`IDLE_TIMEOUT` seconds for a silent client.
* **Errors.** A client that goes away mid-request is not a traceback on the terminal.
"""
import ipaddress
import logging
import socket
import threading
from http.server import HTTPServer

log = logging.getLogger("ssd_edge.stream")

MAX_CONNECTIONS = 256
BACKLOG = 512
IDLE_TIMEOUT = 30.0
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError,
         socket.timeout)


def split_host(header):
    """``"Host"`` header → ``(name lower-cased, port or None)``; ``("", None)`` when malformed."""
    text = (header or "").strip().lower()
    if text.startswith("["):
        name, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    elif text.count(":") == 1:
        name, _, port = text.partition(":")
    elif ":" in text:               # an IPv6 address must be bracketed in a Host header
        return "", None
    else:
        name, port = text, ""
    if port is None or (port and not port.isdigit()) or not name:
        return "", None
    return name.rstrip("."), (int(port) if port else None)


def _ip(name):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(name):
    ip = _ip(name)
    return name in _LOOPBACK_NAMES if ip is None else ip.is_loopback


def machine_names():
    """This machine's host names and addresses (lower-cased), as clients may name it."""
    names = set()
    for fn in (socket.gethostname, socket.getfqdn):
        try:
            names.add(fn().lower())
        except OSError:
            pass
    for name in list(names):
        try:
            for info in socket.getaddrinfo(name, None):
                names.add(info[4][0].lower())
        except (OSError, UnicodeError):
            pass
    return names


class HostPolicy:
    """Decides whether a request's Host header names this server (see the module docstring)."""

    def __init__(self, bound_host, port, allow=()):
        self.port = port
        self.loopback_only = is_loopback(bound_host)
        bound = bound_host.strip("[]").lower()
        self.wildcard = bound in ("0.0.0.0", "::", "")
        self.names = {bound} | {a.strip().lower().rstrip(".") for a in allow if a.strip()}
        if not self.loopback_only:
            self.names |= machine_names()

    def allows(self, header):
        name, port = split_host(header)
        if not name or (port is not None and port != self.port):
            return False
        if port is None and self.port != 80:
            return False
        if is_loopback(name) or name in self.names:
            return True
        return not self.loopback_only and self.wildcard and _ip(name) is not None


class GuardedHTTPServer(HTTPServer):
    """An ``HTTPServer`` with a thread per connection, bounded, and quiet about lost clients."""

    request_queue_size = BACKLOG
    daemon_threads = True
    max_connections = MAX_CONNECTIONS
    idle_timeout = IDLE_TIMEOUT

    def __init__(self, *args, **kwargs):
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            t = threading.Thread(target=self._work, args=(request, client_address),
                                 name="ssd-http-client", daemon=True)
            t.start()
        except RuntimeError:        # no thread could be started: refuse, keep serving
            self._slots.release()
            self._refuse(request)

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def _refuse(self, request):
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                            b"Connection: close\r\nRetry-After: 1\r\n\r\n")
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        import sys
        err = sys.exc_info()[1]
        if isinstance(err, _GONE):
            return
        log.warning("HTTP client %s: %s: %s", client_address[0], type(err).__name__, err)


class GuardedHTTPServer6(GuardedHTTPServer):
    address_family = socket.AF_INET6
