"""labels.txt: one class name per line, ``BACKGROUND`` first (pytorch-ssd's layout).

Core zone (stdlib only): the runtime, the exporter and the zoo read labels here, by one rule.
"""
import os
import warnings

from .errors import SsdEdgeError

BACKGROUND = "BACKGROUND"


def read_labels(path):
    """Return the class names in ``path`` as a tuple of str, in file order.

    Lines are stripped; trailing blank lines are ignored, a blank line between names is an
    error (it would shift every later class id). The BACKGROUND check is :func:`check_labels`'s.
    """
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="utf-8-sig") as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except FileNotFoundError:
        raise SsdEdgeError("labels file %s not found; expected a labels.txt with one class per "
                           "line, BACKGROUND first" % path)
    except (OSError, UnicodeDecodeError) as e:
        raise SsdEdgeError("cannot read labels file %s as UTF-8 text: %s"
                           % (path, getattr(e, "strerror", None) or e))
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise SsdEdgeError("labels file %s is empty; expected one class per line, BACKGROUND "
                           "first" % path)
    if "" in lines:
        raise SsdEdgeError("labels file %s has a blank line %d between class names; expected one "
                           "name per line" % (path, lines.index("") + 1))
    return tuple(lines)


def model_labels(labels):
    """Class names for a model, ``BACKGROUND`` first (prepended when missing, as a dataset root's
    labels.txt has none).

    Args:
        labels: a ``labels.txt`` path (read by :func:`read_labels`) or a sequence of names.
    Returns:
        tuple of str.
    """
    if isinstance(labels, (str, bytes)) or hasattr(labels, "__fspath__"):
        names = list(read_labels(labels))
    else:
        names = [str(n) for n in labels]
    if not names:
        raise SsdEdgeError("expected at least one class name in the labels, got none")
    if names[0] != BACKGROUND:
        names.insert(0, BACKGROUND)
    return tuple(names)


def default_labels(num_classes):
    """``("BACKGROUND", "class1", ..., "class<N-1>")`` for a head with ``num_classes`` outputs."""
    return (BACKGROUND,) + tuple("class%d" % i for i in range(1, num_classes))


def resolve_labels(labels, num_classes, fallback=None):
    """Return the labels for a head of ``num_classes`` outputs, checked.

    Args:
        labels: a labels.txt path, a sequence of names (BACKGROUND first), or None.
        fallback: labels to use when ``labels`` is None (e.g. from a spec sidecar).
    Without either, names the classes ``class1..classN`` and warns once.
    """
    source = "labels"
    if labels is None and fallback is not None:
        labels, source = tuple(fallback), "the spec sidecar's labels"
    if labels is None:
        warnings.warn("no labels given; naming the %d classes class1..class%d (pass "
                      "--labels labels.txt, in Python labels='labels.txt', to use real names)"
                      % (num_classes - 1, num_classes - 1),
                      UserWarning, stacklevel=3)
        return default_labels(num_classes)
    if isinstance(labels, (str, bytes)) or hasattr(labels, "__fspath__"):
        source = os.fspath(labels)
        if isinstance(source, bytes):
            source = source.decode()
        labels = read_labels(source)
    return check_labels(tuple(labels), num_classes, source)


def check_labels(labels, num_classes, source="labels"):
    """Raise :class:`SsdEdgeError` unless ``labels`` has BACKGROUND first and one name per
    class of the head; return ``labels``."""
    if not labels or labels[0] != BACKGROUND:
        hint = ""
        if len(labels) == num_classes - 1:
            hint = "; it lists %d names for the checkpoint's %d classes: add a BACKGROUND line " \
                   "first" % (len(labels), num_classes)
        raise SsdEdgeError("%s must start with BACKGROUND (pytorch-ssd's labels.txt layout), got "
                           "%r first%s" % (source, labels[0] if labels else "nothing", hint))
    if len(labels) != num_classes:
        raise SsdEdgeError("checkpoint has %d classes (BACKGROUND included) but %s lists %d"
                           % (num_classes, source, len(labels)))
    seen = {}
    for i, name in enumerate(labels):
        if name in seen:
            raise SsdEdgeError("%s lists %r twice (lines %d and %d); expected one unique name per "
                               "class" % (source, name, seen[name] + 1, i + 1))
        seen[name] = i
    return labels
