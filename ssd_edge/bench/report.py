"""Result documents → Markdown (one table for one device or many), and the README block.

``benchmarks/README.md`` embeds generated text between ``<!-- results:begin -->`` and
``<!-- results:end -->``; :func:`update_readme` rewrites only that block, atomically.
"""
import json
import os

from ..errors import SsdEdgeError
from ..fileio import atomic_write_text
from .environment import describe
from .ratios import compute_ratios, format_ratio
from .runner import KIND, SCHEMA

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
_PREC_ORDER = {"fp32": 0, "fp16": 1, "bf16": 2, "int8": 3}


def load_result(path):
    """Read one result file; raises SsdEdgeError unless it is an ``ssd-bench`` document."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise SsdEdgeError("cannot read result file %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise SsdEdgeError("expected JSON in %s, got a parse error: %s" % (path, e))
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise SsdEdgeError("expected an ssd-bench result file (\"kind\": %r) at %s, got %s"
                           % (KIND, path, "kind %r" % doc.get("kind") if isinstance(doc, dict)
                              else type(doc).__name__))
    if not isinstance(doc.get("schema"), int) or doc["schema"] > SCHEMA:
        raise SsdEdgeError("expected result schema <= %d in %s, got %r; update ssd-edge"
                           % (SCHEMA, path, doc.get("schema")))
    return doc


def is_result_file(path):
    """True when ``path`` holds an ``ssd-bench`` result (other JSON is ignored by globbing)."""
    try:
        load_result(path)
        return True
    except SsdEdgeError:
        return False


def label_of(doc):
    env = doc.get("environment") or {}
    return env.get("label") or (env.get("cpu") or {}).get("model") or "device"


def _backend_label(row):
    name = row["backend"]
    if row.get("nms_request") == "host":
        name += " (host NMS)"
    if row.get("device") and str(row["device"]).lower() not in ("cpu",):
        name += " @" + str(row["device"])
    return name


def _stem(name):
    return os.path.basename(str(name)).split(".")[0]


def file_precision(row):
    """The artifact's precision from its name (``.fp16.onnx``, ``.int8.onnx``; else fp32)."""
    parts = os.path.basename(str(row.get("model", ""))).lower().split(".")[1:-1]
    return next((p for p in ("fp16", "int8") if p in parts), "fp32")


#: Backends whose computed precision may differ from the file's, by artifact precision: an
#: FP16 file through OpenVINO computes in bf16 on CPUs with bf16 (AVX512_BF16, AMX), and the
#: float layers of an INT8 file follow OpenVINO's default hint. (Its FP32 is pinned to f32.)
_MAY_SUBSTITUTE = {"openvino": ("fp16", "int8")}
UNRECORDED = "(ran: not recorded)"


def precision_label(row, schema=SCHEMA):
    """``fp16`` where the backend computed what the file holds; ``fp16→bf16`` where it reported
    another precision (an FP16 file through OpenVINO on a bf16 CPU).

    Result files before schema 2 stored the file's precision in ``precision``, not the one the
    backend reported, so where a backend may substitute another the label says it is unknown:
    ``fp16 (ran: not recorded)``.
    """
    stored, ran = file_precision(row), row.get("precision")
    if schema < 2 and stored in _MAY_SUBSTITUTE.get(row.get("backend"), ()):
        return "%s %s" % (stored, UNRECORDED)
    return stored if not ran or ran == stored else "%s→%s" % (stored, ran)


def model_label(doc, row):
    """Network plus what its weights are: ``mb2-ssd-lite, random weights`` or
    ``mb2-ssd-lite, trained (shapes-mb2-ssd-lite)``, so rows of the same net never look alike."""
    arch, stem = row.get("arch") or _stem(row["model"]), _stem(row["model"])
    for m in (doc.get("suite") or {}).get("models", []):
        if _stem(m.get("path", "")) == stem and "random_weights" in m:
            return "%s, %s" % (arch, "random weights" if m["random_weights"]
                               else "trained (%s)" % stem)
    return arch if stem == arch else "%s (%s)" % (arch, stem)


def _sort_key(row):
    return (row.get("arch") or "", _stem(row["model"]), _PREC_ORDER.get(file_precision(row), 9),
            row["backend"], row.get("nms_request") or "", row.get("batch") or 0)


def _ms(value):
    if value is None:
        return "–"
    return "%.3g" % value if value < 10 else "%.1f" % value


def _num(value, fmt="%.1f"):
    return "–" if value is None else fmt % value


def case_line(row):
    """One line per finished case, for the live log."""
    head = "%-28s %-12s b%-4s" % (row["model"][:28], row["backend"], row["batch"])
    if row["status"] != "ok":
        return "%s %s: %s" % (head, row["status"], row.get("reason"))
    e2e = row["latency_ms"]["end_to_end"]
    return "%s %-5s %-6s e2e p50 %8.2f ms  p99 %8.2f ms  %9.1f img/s" % (
        head, row["precision"], row.get("nms"), e2e["p50"], e2e["p99"], row["throughput_ips"])


def table_rows(docs):
    """``(device label, row)`` pairs of every ``ok`` row, sorted for the table."""
    out = []
    for doc in docs:
        rows = sorted((r for r in doc.get("results", []) if r.get("status") == "ok"),
                      key=_sort_key)
        out += [(label_of(doc), dict(r, model_label=model_label(doc, r),
                                     schema=doc.get("schema", SCHEMA))) for r in rows]
    return out


def results_table(docs):
    """The Markdown table: one line per (device, artifact, backend, batch)."""
    multi = len(docs) > 1
    head = ["model", "precision", "backend", "batch", "pre p50", "infer p50", "post p50",
            "e2e p50", "e2e p99", "img/s", "peak RSS MB", "GPU MB", "file MB", "mAP"]
    if multi:
        head = ["device"] + head
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for device, r in table_rows(docs):
        lat = r["latency_ms"]
        cells = [r["model_label"], precision_label(r, r["schema"]), _backend_label(r),
                 str(r["batch"]), _ms(lat["preprocess"]["p50"]), _ms(lat["inference"]["p50"]),
                 _ms(lat["postprocess"]["p50"]), _ms(lat["end_to_end"]["p50"]),
                 _ms(lat["end_to_end"]["p99"]), _num(r.get("throughput_ips")),
                 _num(r.get("peak_rss_mb"), "%.0f"), _num(r.get("gpu_memory_mb"), "%.0f"),
                 _num(r.get("file_size_mb")),
                 "%.4f" % r["map"]["value"] if r.get("map") else "–"]
        lines.append("| " + " | ".join(([device] if multi else []) + cells) + " |")
    return "\n".join(lines)


def not_run(docs):
    """Bullet lines for skipped and failed cases, one per (backend, reason), and mAP errors."""
    out = []
    for doc in docs:
        groups = {}
        for r in doc.get("results", []):
            if r.get("map_error"):
                groups.setdefault(("mAP not measured", r["backend"], r["map_error"]),
                                  []).append(r["model"])
            if r.get("status") != "ok":
                where = r["backend"] + (" at batch %d" % r["batch"] if r.get("batch") and
                                        r["status"] == "skipped" else "")
                groups.setdefault((r["status"], where, r.get("reason")), []).append(r["model"])
        for (status, where, reason), models in groups.items():
            names = ", ".join("`%s`" % m for m in dict.fromkeys(models))
            out.append("- %s: %s %s for %s — %s" % (label_of(doc), where, status, names,
                                                    one_line(reason)))
    return out


def one_line(reason):
    """A stored reason as one readable line: OpenCV's messages carry bare ``>`` marker lines."""
    parts = [ln.strip().lstrip(">").strip() for ln in str(reason or "").splitlines()]
    text = " ".join(p for p in parts if p)
    text = " ".join(w for w in text.split(" ") if w != ">").replace(": ;", " (no detail given);")
    return text or "no reason given"


def environment_lines(docs):
    out = []
    for doc in docs:
        env, s = doc.get("environment") or {}, doc.get("settings") or {}
        libs = env.get("libraries") or {}
        versions = ", ".join("%s %s" % (k, v) for k, v in sorted(libs.items()) if v)
        out.append("- **%s**: %s; %s threads; Python %s; %s; %s (%s)" % (
            label_of(doc), describe(env), s.get("threads") or "default", env.get("python"),
            versions, (env.get("os") or {}).get("platform"), doc.get("created")))
    return out


def ratio_lines(docs):
    out = []
    for doc in docs:
        for entry in doc.get("ratios") or compute_ratios(doc):
            out.append("- %s: %s" % (label_of(doc), format_ratio(entry)))
    return out


def markdown(docs):
    """Everything generated for a set of result documents, as one Markdown fragment."""
    parts = ["Latencies in ms per `detect_batch` call (p50 / p99 over the timed iterations, "
             "warm-up excluded); img/s = batch × 1000 / outlier-trimmed mean end to end; "
             "pre + infer + post ≈ e2e (the rest is Python glue). model: the network and "
             "its weights (random or trained); precision: the file's, `fp16→bf16` where the "
             "backend reported computing in another one, `%s` where a result file "
             "older than schema 2 did not record it for a backend that may compute in "
             "another precision (OpenVINO: bf16 for FP16 files on CPUs with AVX512_BF16 or "
             "AMX)." % UNRECORDED, "",
             "Machines:", ""] + environment_lines(docs) + ["", results_table(docs)]
    ratios = ratio_lines(docs)
    if ratios:
        parts += ["", "Ratios (measured side by side in the same run):", ""] + ratios
    skipped = not_run(docs)
    if skipped:
        parts += ["", "Not measured:", ""] + skipped
    return "\n".join(parts) + "\n"


def replace_block(text, block):
    """``text`` with everything between the results markers replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SsdEdgeError("expected the markers %s and %s in the README, got %s" % (
            BEGIN, END, "them out of order" if start >= 0 and end >= 0 else "none"))
    return text[:start + len(BEGIN)] + "\n" + block.rstrip("\n") + "\n" + text[end:]


def update_readme(path, docs):
    """Rewrite the results block of ``path`` from ``docs`` (atomically)."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise SsdEdgeError("cannot read %s: %s" % (path, e.strerror or e))
    atomic_write_text(path, replace_block(text, markdown(docs)))
    return path


def write_json(path, doc):
    """Write a result document atomically (sorted keys are not used: the schema order reads)."""
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def write_markdown(path, docs):
    atomic_write_text(path, markdown(docs))
    return path


def result_files(folder):
    """The ``ssd-bench`` result files in ``folder`` (sorted), other JSON ignored."""
    if not os.path.isdir(folder):
        return []
    paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".json")]
    return [p for p in paths if is_result_file(p)]
