"""The import matrix of docs/architecture.md, as data the zone test checks the package against.

A module's zone is found from its path (:func:`zone_of`); ``ALLOWED[zone]`` lists the zones it may
import at module top and anywhere else; ``LAZY`` names each function-level import that crosses
the matrix on purpose (docs/architecture.md §1: the torch backend loading the zoo, an engine built on first
use), as ``(importing module, imported module prefix)``.
"""
import ast
import pathlib

CORE = ("spec", "priors", "boxes", "nms", "detections", "errors", "fileio", "contract", "labels",
        "preprocess", "mobileinfo", "spec_check", "onnxinfo", "safety", "validate", "imagecheck",
        "cstderr", "stderrfilter")
BUILD = ("models", "export", "data", "train")
TOOLS = ("eval", "bench", "cli", "doctor", "demo", "serving")

#: zone → zones it may import (itself included). "api" is ``ssd_edge/__init__.py``.
ALLOWED = {
    "core": {"core"},
    "accel": {"core", "accel"},
    "runtime": {"core", "accel", "runtime"},
    "models": {"core", "models"},
    "data": {"core", "data"},
    "export": {"core", "accel", "models", "export"},
    "train": {"core", "models", "data", "train"},
    "tools": {"core", "accel", "runtime", "models", "data", "export", "train", "tools"},
    "api": {"core", "api"},
}

#: function-level imports that cross the matrix by design: (module, imported-module prefix, why).
LAZY = (
    ("ssd_edge", "ssd_edge.runtime", "the Detector and stream() load on first use (PEP 562)"),
    ("ssd_edge.runtime.artifact", "ssd_edge.models", "a .pth opens through the zoo's "
     "load_checkpoint; a foreign ONNX is described by a zoo net"),
    ("ssd_edge.runtime.backends.torch_backend", "ssd_edge.models", "the torch backend loads "
     "the zoo"),
    ("ssd_edge.detections", "ssd_edge.runtime.stream.overlay", "Detections.draw() renders "
     "with ssd-live's overlay (OpenCV), only when asked"),
    ("ssd_edge.runtime.registry", "ssd_edge.models.specs", "a named model's download writes "
     "its .spec.json from the zoo's tables (no torch)"),
    ("ssd_edge.runtime.backends.trt", "ssd_edge.export.tensorrt", "an engine is built on "
     "first use (engine cache)"),
    ("ssd_edge.runtime.backends.trt", "ssd_edge.export.tensorrt_steps", "the engine cache reads "
     "the ONNX's NMS variant and precision as the builder does"),
)


def zone_of(module):
    """The zone of a dotted module name inside ``ssd_edge``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    head = parts[1]
    if parts[-1] == "__main__":
        return "tools"     # ``python -m ssd_edge.train`` is a command, whatever package holds it
    if head in CORE:
        return "core"
    if head in ("accel", "runtime"):
        return head
    if head in BUILD:
        return head
    if head in TOOLS:
        return "tools"
    raise AssertionError("module %s is in no zone; add it to tests/unit/zone_rules.py and the "
                         "matrix in docs/architecture.md" % module)


def module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module, is_pkg, node, known):
    """Dotted names an ImportFrom/Import node brings in (ssd_edge ones only)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "ssd_edge"]
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = module.split(".") if is_pkg else module.split(".")[:-1]
        pkg = pkg[:len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    if base.split(".")[0] != "ssd_edge":
        return []
    out = []
    for a in node.names:
        sub = base + "." + a.name
        out.append(sub if sub in known else base)
    return out


def imports(source, module, is_pkg, known):
    """``[(target module, lineno, at_top)]`` for every ssd_edge import in ``source``."""
    tree = ast.parse(source)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, is_pkg, child, known):
                    found.append((target, child.lineno, not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef,
                                                           ast.AsyncFunctionDef, ast.Lambda)))
    visit(tree, False)
    return found


def violations(module, is_pkg, source, known):
    """Lines naming each import of ``module`` that the matrix forbids."""
    zone = zone_of(module)
    bad = []
    for target, line, top in imports(source, module, is_pkg, known):
        if target == "ssd_edge":
            continue            # the package itself (``__version__``)
        want = zone_of(target)
        if want in ALLOWED[zone]:
            continue
        if not top and any(module == m and (target == t or target.startswith(t + "."))
                           for m, t, _ in LAZY):
            continue
        bad.append("%s:%d imports %s (%s -> %s) %s" % (module, line, target, zone, want,
                                                     "at module top" if top else "in a function"))
    return bad


def package_modules(pkg):
    """``{module name: path}`` of every module in the package directory ``pkg``."""
    root = pkg.parent
    return {module_name(p, root): p for p in sorted(pathlib.Path(pkg).rglob("*.py"))}
