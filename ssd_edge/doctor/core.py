"""The doctor's plumbing: verdicts, the injectable environment, safe file and command access.

Every check reads the machine only through :class:`Env`, so tests point ``root`` at a fake
filesystem in a temporary folder and replace ``run`` / ``import_module`` with fakes. Nothing here
raises for a missing tool or an unreadable file: those come back as values the checks report.
"""
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)


@dataclass(frozen=True)
class Verdict:
    """One line of the report.

    Attributes:
        check: short name, e.g. ``"tensorrt"``.
        status: ``"ok"``, ``"warn"`` or ``"fail"``.
        finding: what was found, one line.
        fix: what to do about it (None when nothing needs doing).
        data: machine-readable facts behind the finding (JSON-serialisable).
    """

    check: str
    status: str
    finding: str
    fix: Optional[str] = None
    data: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self):
        return {"check": self.check, "status": self.status, "finding": self.finding,
                "fix": self.fix, "data": self.data}


@dataclass(frozen=True)
class CmdResult:
    """What a command returned: exit status and decoded output."""

    rc: int
    out: str
    err: str = ""


def subprocess_runner(argv, timeout=10.0):
    """Run ``argv``; return :class:`CmdResult`, or None when the program does not exist."""
    try:
        p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, check=False)
    except FileNotFoundError:
        return None
    except PermissionError as e:
        return CmdResult(126, "", str(e))
    except subprocess.TimeoutExpired:
        return CmdResult(124, "", "timed out after %gs" % timeout)
    except OSError as e:
        return CmdResult(127, "", str(e))
    return CmdResult(p.returncode, p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"))


def module_present(name):
    """True when the package ``name`` can be found (``importlib.util.find_spec``; not imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Env:
    """Where the checks look.

    Attributes:
        root: prefix for every absolute path read (``/proc``, ``/etc``, ``/dev``, ``/sys``).
        run: ``run(argv, timeout) -> CmdResult | None`` (None = command not installed).
        import_module: ``import_module(name) -> module``; raises ImportError when absent.
        disk_usage: ``disk_usage(path) -> (total, used, free)`` bytes, as ``shutil.disk_usage``.
        engine_dir: folder whose free space is checked for engines.
        python_version: ``(major, minor, micro)`` of the interpreter that will run ssd-edge.
        prefix, base_prefix: ``sys.prefix`` / ``sys.base_prefix`` (they differ inside a venv).
        has_module: ``has_module(name) -> bool``: the package is installed (found, not imported).
    """

    root: str = "/"
    run: Callable[..., Optional[CmdResult]] = subprocess_runner
    import_module: Callable[[str], Any] = importlib.import_module
    disk_usage: Callable[[str], Tuple[int, int, int]] = shutil.disk_usage
    engine_dir: str = "."
    python_version: Tuple[int, int, int] = tuple(sys.version_info[:3])
    prefix: str = sys.prefix
    base_prefix: str = getattr(sys, "base_prefix", sys.prefix)
    has_module: Callable[[str], bool] = module_present

    def path(self, absolute):
        """Map an absolute system path such as ``/etc/nv_tegra_release`` under ``root``."""
        return os.path.join(self.root, absolute.lstrip("/"))


def read_text(env, absolute, limit=1 << 20):
    """Return ``(text, None)`` or ``(None, reason)`` for a system file under ``env.root``.

    Device-tree strings end in NUL; those are stripped.
    """
    path = env.path(absolute)
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except FileNotFoundError:
        return None, "missing"
    except PermissionError:
        return None, "not readable (permission denied)"
    except OSError as e:
        return None, "not readable (%s)" % (e.strerror or e)
    return data.decode("utf-8", "replace").replace("\x00", "").strip(), None


def run_cmd(env, argv, timeout=10.0):
    """Run a command through ``env.run``; any exception from a faulty runner becomes a result."""
    try:
        return env.run(argv, timeout)
    except Exception as e:  # noqa: BLE001 - the doctor reports, it never crashes
        return CmdResult(127, "", "%s: %s" % (type(e).__name__, e))


def try_import(env, name):
    """Return ``(module, None)`` or ``(None, reason)``; any import-time error is a reason."""
    try:
        return env.import_module(name), None
    except ImportError as e:
        return None, "not installed (%s)" % (e,)
    except Exception as e:  # noqa: BLE001 - broken installs raise anything at import
        return None, "import failed: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e)
                                                else "")


def version_of(module):
    return str(getattr(module, "__version__", "unknown version"))


def version_tuple(text):
    """``"8.5.2.2"`` → ``(8, 5, 2, 2)``; ``"2.0.0rc1"`` → ``(2, 0, 0)``; stops at a non-number."""
    out = []
    for part in str(text).split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group(0)))
        if m.group(0) != part:
            break
    return tuple(out)
