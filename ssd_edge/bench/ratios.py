"""The headline ratios of a result document, each measured side by side in one run.

* ``int8_vs_fp32``: INT8 over FP32 end-to-end throughput at batch 1, taking the fastest CPU
  backend (ONNX Runtime, OpenVINO, OpenCV DNN) for each precision separately; also the same
  ratio for the network alone (``inference`` mean). Target for mb1-ssd: ≥ 2.5× on a CPU with
  int8 dot-product instructions (VNNI / AMX / Arm dotprod), ≥ 1.5× without; for mb2-ssd-lite:
  > 1× (INT8 faster at all).
* ``map_drop_int8``: FP32 mAP minus INT8 mAP, in points, for those two rows (with ``--data``).
* ``ort_vs_pytorch_eager``: ONNX Runtime FP32 end to end over pytorch-ssd's Predictor (eager
  PyTorch, same weights, same frames) at batch 1 on the CPU. Target ≥ 3×.
* ``postprocess_share``: post-processing mean over inference mean, ONNX Runtime FP32, batch 1.
  Target ≤ 10 %.
* ``gpu_vs_pytorch_eager``: the torch backend on CUDA (its own NMS) over the Predictor on the
  same GPU, batch 1. Target ≥ 4×.

A ratio is left out when the rows it needs are absent (a backend missing, a model not run).
"""
import os

from ..runtime.backends.registry import RECORDS

#: the backends ``auto`` may pick on a CPU (the registry's ``cpu_auto``), best first.
CPU_BACKENDS = tuple(r.name for r in RECORDS if r.cpu_auto)
INT8_TARGETS = {"mb1-ssd": None, "mb2-ssd-lite": 1.0}   # None: 2.5 / 1.5 by the CPU's ISA


def _ok(rows):
    return [r for r in rows if r.get("status") == "ok"]


def _on_cpu(row):
    return str(row.get("device") or "").lower() in ("cpu", "")


def _mean(row, stage):
    return row["latency_ms"][stage]["mean"]


def _best(rows, key):
    rows = [r for r in rows if key(r)]
    return max(rows, key=lambda r: r["throughput_ips"] or 0.0) if rows else None


def _ref(row):
    return {"model": row["model"], "backend": row["backend"], "precision": row["precision"],
            "batch": row["batch"], "throughput_ips": row["throughput_ips"],
            "inference_ms": _mean(row, "inference")}


def _entry(name, arch, value, target, kind, num, den, text, **extra):
    met = None
    if target is not None and value is not None:
        met = value <= target if kind == "max" else (value > target if kind == "gt"
                                                      else value >= target)
    out = {"name": name, "arch": arch, "value": None if value is None else round(value, 3),
           "target": target, "target_kind": kind, "met": met, "text": text}
    if num is not None:
        out["numerator"] = _ref(num)
    if den is not None:
        out["denominator"] = _ref(den)
    out.update(extra)
    return out


def _int8(rows, arch, int8_dot):
    cpu = [r for r in rows if r["arch"] == arch and r["batch"] == 1 and _on_cpu(r)
           and r["backend"] in CPU_BACKENDS and r.get("nms") != "graph"]
    fp32 = _best(cpu, lambda r: r["precision"] == "fp32")
    int8 = _best(cpu, lambda r: r["precision"] == "int8")
    if fp32 is None or int8 is None:
        return []
    kind, target = "min", None
    if arch in INT8_TARGETS:
        target = INT8_TARGETS[arch]
        kind = "min" if target is None else "gt"
        target = (2.5 if int8_dot else 1.5) if target is None else target
    infer_fp32 = min(_mean(r, "inference") for r in cpu if r["precision"] == "fp32")
    infer_int8 = min(_mean(r, "inference") for r in cpu if r["precision"] == "int8")
    out = [_entry("int8_vs_fp32", arch, int8["throughput_ips"] / fp32["throughput_ips"], target,
                  kind, int8, fp32, "%s INT8 vs FP32 end to end, best CPU backend each "
                  "(%s vs %s)" % (arch, int8["backend"], fp32["backend"]),
                  inference_value=round(infer_fp32 / infer_int8, 3), int8_dot=bool(int8_dot))]
    if fp32.get("map") and int8.get("map"):
        drop = (fp32["map"]["value"] - int8["map"]["value"]) * 100.0
        out.append(_entry("map_drop_int8", arch, drop, 1.0, "max", int8, fp32,
                          "%s mAP drop INT8 vs FP32, points (%s)" % (arch, fp32["map"]["metric"])))
    return out


def _peer(rows, arch):
    base = [r for r in rows if r["arch"] == arch and r["batch"] == 1]
    out = []
    ort = _best(base, lambda r: r["backend"] == "ort" and r["precision"] == "fp32" and _on_cpu(r)
                and r.get("nms") == "host")
    peer_cpu = _best(base, lambda r: r["backend"] == "pytorch-ssd" and _on_cpu(r))
    if ort is not None and peer_cpu is not None:
        out.append(_entry("ort_vs_pytorch_eager", arch,
                          ort["throughput_ips"] / peer_cpu["throughput_ips"], 3.0, "min", ort,
                          peer_cpu, "%s ONNX Runtime FP32 vs pytorch-ssd eager, end to end, CPU"
                          % arch))
    if ort is not None and _mean(ort, "inference") > 0:
        share = _mean(ort, "postprocess") / _mean(ort, "inference")
        out.append(_entry("postprocess_share", arch, share, 0.10, "max", ort, None,
                          "%s post-processing / inference, ONNX Runtime FP32" % arch))
    gpu = _best(base, lambda r: r["backend"] == "torch" and not _on_cpu(r)
                and r.get("nms_request") == "auto")
    peer_gpu = _best(base, lambda r: r["backend"] == "pytorch-ssd" and not _on_cpu(r))
    if gpu is not None and peer_gpu is not None:
        out.append(_entry("gpu_vs_pytorch_eager", arch,
                          gpu["throughput_ips"] / peer_gpu["throughput_ips"], 4.0, "min", gpu,
                          peer_gpu, "%s torch backend on %s vs pytorch-ssd eager on the same GPU"
                          % (arch, gpu["device"])))
    return out


def compute_ratios(doc):
    """The list of ratio entries for a result document (see the module doc)."""
    rows = _ok(doc.get("results", []))
    int8_dot = ((doc.get("environment") or {}).get("cpu") or {}).get("int8_dot", False)
    out = []
    # One group per model (its artifacts share a stem), so two models of one arch — random
    # weights and a trained checkpoint of another width, say — are never compared.
    groups = {}
    for r in rows:
        groups.setdefault((r["arch"], model_stem(r["model"])), []).append(r)
    stems = {}
    for arch, stem in groups:
        stems.setdefault(arch, []).append(stem)
    for (arch, stem), members in sorted(groups.items()):
        name = arch if len(stems[arch]) == 1 or stem == arch + "-random" else \
            "%s (%s)" % (arch, stem)
        members = [dict(r, arch=name) for r in members]
        out += _int8(members, name, int8_dot)
        out += _peer(members, name)
    return out


def model_stem(name):
    """``shapes-mb2-ssd-lite.int8.onnx`` → ``shapes-mb2-ssd-lite`` (every artifact of a model)."""
    base = os.path.basename(name)
    for suffix in (".onnx", ".ort", ".pth", ".engine", ".int8", ".fp16", ".fp32", ".nms-onnx",
                   ".nms-trt"):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    for suffix in (".int8", ".fp16", ".fp32"):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    return base


def format_ratio(entry):
    """``mb1-ssd INT8 vs FP32 ... : 2.73x (target >= 2.5x: met)``."""
    value = entry["value"]
    if entry["name"] in ("postprocess_share",):
        shown = "%.1f %%" % (value * 100)
        target = "%.0f %%" % (entry["target"] * 100)
    elif entry["name"] == "map_drop_int8":
        shown, target = "%.2f points" % value, "%.1f points" % entry["target"]
    else:
        shown = "%.2fx" % value
        target = "%.1fx" % entry["target"] if entry["target"] is not None else None
        if "inference_value" in entry:
            shown += " (network alone %.2fx)" % entry["inference_value"]
    if target is None:
        return "%s: %s" % (entry["text"], shown)
    sign = {"max": "<=", "gt": ">", "min": ">="}[entry["target_kind"]]
    verdict = "met" if entry["met"] else "missed"
    return "%s: %s (target %s %s: %s)" % (entry["text"], shown, sign, target, verdict)
