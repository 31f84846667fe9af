"""The defaults the docs and ``--help`` state for ssd-live's thresholds are the code's own."""
import pathlib
import re

from ssd_edge.spec import NmsDefaults

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _doc_default(text, flag):
    row = next(line for line in text.splitlines() if line.startswith("| `%s`" % flag))
    return float(re.search(r"default (\d+(?:\.\d+)?)", row).group(1))


def test_streaming_doc_and_help_state_the_real_threshold_defaults():
    from ssd_edge.cli.live import build_parser
    nms = NmsDefaults()
    doc = (ROOT / "docs" / "streaming.md").read_text(encoding="utf-8")
    assert _doc_default(doc, "--threshold") == nms.conf_threshold
    assert _doc_default(doc, "--iou") == nms.iou_threshold
    helps = {a.option_strings[0]: a.help for a in build_parser()._actions if a.option_strings}
    assert "(default %g)" % nms.conf_threshold in helps["--threshold"]
    assert "(default %g)" % nms.iou_threshold in helps["--iou"]
