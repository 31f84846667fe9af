"""ssd-doctor: say what is wrong with this machine before anything is built.

``run_checks(env)`` returns one :class:`Verdict` per check, in this order: platform, jetpack,
python, numpy, opencv, onnxruntime, gpu, cuda, tensorrt, backends, memory, camera, nvpmodel,
jetson_clocks, disk. A check never raises: missing tools and unreadable files are findings.
``jetson_facts(env)`` gives the platform facts benchmark results record.
"""
from .core import FAIL, OK, STATUSES, WARN, CmdResult, Env, Verdict, subprocess_runner
from .gpu import check_cuda, check_gpu
from .packages import check_backends, check_numpy, check_onnxruntime, check_opencv
from .platform import check_jetpack, check_platform, check_python
from .report import SCHEMA_VERSION, exit_status, format_line, to_json
from .system import check_cameras, check_clocks, check_disk, check_memory, check_nvpmodel
from .trt import check_tensorrt

CHECKS = (check_platform, check_jetpack, check_python, check_numpy, check_opencv,
          check_onnxruntime, check_gpu, check_cuda, check_tensorrt, check_backends, check_memory,
          check_cameras, check_nvpmodel, check_clocks, check_disk)


def run_checks(env=None, checks=CHECKS):
    """Run every check against ``env`` (default: this machine) and return the verdicts.

    A check that raises is itself reported as a ``fail`` naming the bug, so one broken probe
    never hides the others.
    """
    env = env or Env()
    facts = {}
    verdicts = []
    for check in checks:
        name = check.__name__.replace("check_", "")
        try:
            verdicts.extend(check(env, facts))
        except Exception as e:  # noqa: BLE001 - a doctor bug must not hide the other checks
            verdicts.append(Verdict(name, FAIL, "the check itself crashed: %s: %s"
                                    % (type(e).__name__, e), "report this as an ssd-edge bug"))
    return verdicts


def jetson_facts(env=None):
    """Platform facts for result files: ``{"jetson", "model", "l4t", "jetpack", "nvpmodel",
    "jetson_clocks"}`` (None where unknown or not a Jetson)."""
    by_name = {v.check: v for v in run_checks(env, (check_platform, check_jetpack,
                                                    check_nvpmodel, check_clocks))}
    return {"jetson": bool(by_name["platform"].data.get("jetson")),
            "model": by_name["platform"].data.get("model"),
            "l4t": by_name["jetpack"].data.get("l4t"),
            "jetpack": by_name["jetpack"].data.get("jetpack"),
            "nvpmodel": by_name["nvpmodel"].data.get("mode"),
            "jetson_clocks": by_name["jetson_clocks"].data.get("pinned")}


__all__ = ["CHECKS", "FAIL", "OK", "STATUSES", "WARN", "CmdResult", "Env", "SCHEMA_VERSION",
           "Verdict", "exit_status", "format_line", "jetson_facts", "run_checks",
           "subprocess_runner", "to_json"]
