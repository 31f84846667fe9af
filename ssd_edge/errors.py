"""User-facing errors.

Every problem a user can fix (a bad path, a wrong file, a missing optional package) is raised as
:class:`SsdEdgeError` with one line saying what was expected and what was found; the command-line
tools print that line and exit with status 2. Anything else is a bug and keeps its traceback.
"""


class SsdEdgeError(Exception):
    """A problem the user can fix; ``str(err)`` is one line naming the problem and the fix."""


def missing_extra(package, extra):
    """Return the error for an optional dependency that is not installed.

    Args:
        package: import name that failed, e.g. ``"onnxruntime"``.
        extra: the pip extra that provides it, e.g. ``"ort"``.
    """
    return SsdEdgeError(
        "%s is not installed; install it with: pip install \"ssd-edge[%s]\"" % (package, extra))
