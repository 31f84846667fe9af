"""A real Triton Inference Server for tests and benchmarks: the ``tritonserver`` in PyPI's
``nvidia-pytriton`` wheel (release 2.51, python backend only), in its own virtual environment.

The server's Python environment is separate from the test one because the python backend needs
numpy < 2 (with numpy 2 every output tensor comes back empty). :func:`ensure_env` builds it once
(``pip install`` only, under a file lock so parallel test workers share it) at ``.venv-triton``
in the repository root, or ``$SSD_EDGE_TRITON_ENV``. :class:`TritonServer` starts the binary on
127.0.0.1 with free HTTP, gRPC and metrics ports and stops it.
"""
import fcntl
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ["nvidia-pytriton==0.7.0"]
# numpy < 2 for the stub (see above); OpenCV < 4.12 is the last line built for numpy 1.
SERVER_DEPS = ["numpy<2", "onnxruntime", "opencv-python-headless<4.12"]


def env_dir():
    return os.environ.get("SSD_EDGE_TRITON_ENV") or os.path.join(ROOT, ".venv-triton")


class Unavailable(Exception):
    """The server cannot run on this machine (the reason is the message)."""


def ensure_env(python=None):
    """Build (once) and return the server's environment folder; raise :class:`Unavailable`."""
    venv = env_dir()
    ready = os.path.join(venv, ".ready")
    if os.path.exists(ready):
        return venv
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        raise Unavailable("nvidia-pytriton ships tritonserver for x86_64 Linux only")
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(ready):
            return venv
        base = python or getattr(sys, "_base_executable", None) or sys.executable
        steps = [[base, "-m", "venv", "--clear", venv],
                 [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                  "--disable-pip-version-check", "--no-deps"] + PACKAGES,
                 [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                  "--disable-pip-version-check"] + SERVER_DEPS]
        for cmd in steps:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            if r.returncode != 0:
                raise Unavailable("cannot build the tritonserver environment (%s): %s"
                                  % (" ".join(cmd[2:5]), r.stdout.strip().splitlines()[-1:]))
        _install_stub(venv)
        open(ready, "w").close()
    return venv


def _pytriton_dir(venv):
    found = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "pytriton",
                                   "tritonserver"))
    if not found:
        raise Unavailable("nvidia-pytriton is not installed in %s" % venv)
    return found[0]


def _python_version(venv):
    out = subprocess.check_output([os.path.join(venv, "bin", "python"), "-c",
                                   "import sys; print('%d.%d' % sys.version_info[:2])"])
    return out.decode().strip()


def _install_stub(venv):
    # As PyTriton does: the stub built for this Python goes where the python backend looks.
    server = _pytriton_dir(venv)
    stub = os.path.join(server, "python_backend_stubs", _python_version(venv),
                        "triton_python_backend_stub")
    if not os.path.exists(stub):
        raise Unavailable("nvidia-pytriton has no python backend stub for Python %s"
                          % _python_version(venv))
    dst = os.path.join(server, "backends", "python", "triton_python_backend_stub")
    shutil.copy2(stub, dst)
    os.chmod(dst, 0o755)


def _die_with_parent():
    # A test run killed from outside (timeout, Ctrl-C twice) must not leave a server behind.
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class TritonServer:
    """``tritonserver`` serving ``repository`` on 127.0.0.1 (a context manager).

    Attributes: ``http_port``, ``grpc_port``, ``metrics_port``, ``log`` (path of its output).
    """

    def __init__(self, repository, venv, log_path, timeout=120.0):
        self.repository, self.venv, self.log = repository, venv, log_path
        self.timeout = timeout
        self.proc = None

    def __enter__(self):
        server = _pytriton_dir(self.venv)
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        libdir = subprocess.check_output([os.path.join(self.venv, "bin", "python"), "-c",
                                          "import sysconfig; print(sysconfig.get_config_var"
                                          "('LIBDIR'))"]).decode().strip()
        env = dict(os.environ)
        env["PATH"] = os.path.join(self.venv, "bin") + os.pathsep + env.get("PATH", "")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [libdir, os.path.join(os.path.dirname(server), "..", "nvidia_pytriton.libs"),
             env.get("LD_LIBRARY_PATH", "")])
        env["VIRTUAL_ENV"] = self.venv
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        cmd = [os.path.join(server, "bin", "tritonserver"),
               "--model-repository", self.repository,
               "--backend-directory", os.path.join(server, "backends"),
               "--http-address", "127.0.0.1", "--http-port", str(self.http_port),
               "--grpc-address", "127.0.0.1", "--grpc-port", str(self.grpc_port),
               "--metrics-address", "127.0.0.1", "--metrics-port", str(self.metrics_port),
               # Parallel servers (pytest -n 2) must not share the backend's shared memory names.
               "--backend-config", "python,shm-region-prefix-name=ssd_edge_%d_" % os.getpid(),
               # A model that fails to load stays listed (UNAVAILABLE) instead of stopping all.
               "--exit-on-error=false", "--strict-readiness=false", "--log-verbose", "0"]
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _wait_ready(self):
        import urllib.request
        url = "http://127.0.0.1:%d/v2/health/ready" % self.http_port
        end = time.time() + self.timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        with open(self.log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError("tritonserver did not become ready:\n" + tail)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_out", None):
            self._out.close()
        return False


def serve_skip_reason():
    """None when a server can start here, else why not (for ``pytest.skip``)."""
    try:
        import tritonclient.grpc  # noqa: F401
        import tritonclient.http  # noqa: F401
    except ImportError:
        return "tritonclient is not installed (pip install \"ssd-edge[triton]\")"
    try:
        ensure_env()
    except Unavailable as e:
        return str(e)
    return None


if __name__ == "__main__":
    try:
        print("tritonserver environment: %s" % ensure_env())
    except Unavailable as e:
        print("tritonserver environment not built (the Triton tests will skip): %s" % e)
        sys.exit(1)
