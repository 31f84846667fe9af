"""Evaluation: mAP as VOC07 / VOC12 (pytorch-ssd's eval) or COCO (pycocotools' numbers, in numpy).

``evaluate`` works on lists of ground truth and detections; ``evaluate_detector`` runs any
``detect(image_bgr) -> Detections`` over a dataset; ``write_results`` writes the JSON (and the
precision-recall PNG through ``plot_pr_curves``, which imports matplotlib when called).
"""
from .metrics import METRICS, evaluate
from .plot import plot_pr_curves
from .runner import SCHEMA, evaluate_detector, format_table, result_document, write_results

__all__ = ["METRICS", "SCHEMA", "evaluate", "evaluate_detector", "format_table", "plot_pr_curves",
           "result_document", "write_results"]
