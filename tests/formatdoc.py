"""The documented file formats as data: the ``<!-- fields: NAME schema=N -->`` tables of
docs/formats.md (and docs/evaluation.md), and the checks that a written document has exactly the
documented fields with the documented types.

A table has four columns (field, type, unit, meaning); a field is a path in the document
(``a.b``, ``a[].b`` for each dict of a list); a type is ``|``-separated names from
:data:`TYPES`, ``list[T]``, ``null`` or ``absent`` (the field may be left out).
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = os.path.join(ROOT, "docs", "formats.md")
EVALUATION = os.path.join(ROOT, "docs", "evaluation.md")
TYPES = {"int": int, "float": float, "str": str, "bool": bool, "object": dict}
_TABLE = r"<!-- %s -->\n((?:\|.*\n)+)"


def _rows(block):
    """``{field path: (type, meaning)}`` of one table's lines (header and rule skipped)."""
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 4 and all(cells), "malformed row: %s" % line
        rows[cells[0].strip("`")] = (cells[1].replace("\\|", "|"), cells[3])
    return rows


def doc_table(marker, doc=FORMATS):
    """``{field path: (type, meaning)}`` of the table after ``<!-- MARKER -->`` in ``doc``."""
    with open(doc, encoding="utf-8") as f:
        m = re.search(_TABLE % re.escape(marker), f.read())
    assert m, "docs/%s has no table marked <!-- %s -->" % (os.path.basename(doc), marker)
    return _rows(m.group(1))


def doc_tables(doc=FORMATS):
    """``{name: (schema, {field path: type})}`` of every fields table in ``doc``."""
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    tables = {}
    for m in re.finditer(_TABLE % r"fields: (\S+) schema=(\d+)", text):
        rows = _rows(m.group(3))
        tables[m.group(1)] = (int(m.group(2)), {k: t for k, (t, _) in rows.items()})
    return tables


def _is(v, t):
    if t is float:
        return isinstance(v, (float, int)) and not isinstance(v, bool)
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, t)


def type_ok(value, spec):
    """Whether ``value`` is one of the ``|``-separated types of ``spec``."""
    for t in spec.split("|"):
        if t == "null" and value is None:
            return True
        if t.startswith("list[") and isinstance(value, list):
            if all(_is(v, TYPES[t[5:-1]]) for v in value):
                return True
        elif t in TYPES and _is(value, TYPES[t]):
            return True
    return False


def flatten(obj, prefix="", out=None, skip=()):
    """``{path: [values]}`` in the doc's syntax (``a.b``, ``a[].b``); paths in ``skip`` are
    listed but not expanded."""
    out = {} if out is None else out
    for key, value in obj.items():
        path = prefix + key
        out.setdefault(path, []).append(value)
        if path in skip:
            continue
        if isinstance(value, dict):
            flatten(value, path + ".", out, skip)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for v in value:
                flatten(v, path + "[].", out, skip)
    return out


def check(name, document, doc=FORMATS):
    """``document`` is a valid instance of table ``name``: its schema, no undocumented field,
    every documented field present (children of lists only where the list is non-empty, and
    not those typed ``absent``), every value of its documented type."""
    schema, fields = doc_tables(doc)[name]
    assert document["schema"] == schema
    got = flatten(document)
    undocumented = sorted(set(got) - set(fields))
    assert not undocumented, "%s writes fields docs/formats.md does not describe: %s" % (
        name, undocumented)
    for path, spec in fields.items():
        parent = path.rsplit("[].", 1)[0] if "[]." in path else None
        optional = "absent" in spec.split("|")
        if not optional and (parent is None or any(got.get(parent, []))):
            assert path in got, "%s lacks documented field %s" % (name, path)
        for value in got.get(path, []):
            assert type_ok(value, spec), "%s: %s = %r is not %s" % (name, path, value, spec)


def check_against(marker, documents, skip=(), optional=(), doc=FORMATS):
    """Every path written is documented with a matching type, and every documented path is
    written by at least one of ``documents`` (except the ``optional`` ones). Returns the table
    and ``{path: [values]}`` seen."""
    table = doc_table(marker, doc)
    seen = {}
    for document in documents:
        for path, values in flatten(document, skip=skip).items():
            assert path in table, "%s writes %s, which docs/formats.md does not list" % (
                marker, path)
            for v in values:
                assert type_ok(v, table[path][0]), "%s: %s = %r is not %s" % (
                    marker, path, v, table[path][0])
            seen.setdefault(path, []).extend(values)
    missing = sorted(set(table) - set(seen) - set(optional))
    assert not missing, "docs/formats.md lists %s fields nothing writes: %s" % (marker, missing)
    return table, seen
