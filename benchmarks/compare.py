#!/usr/bin/env python3
"""Merge ssd-bench / suite result files from several devices into one Markdown table and PNG
charts (latency and throughput per device, model, precision and backend; mAP against speed
when measured), and optionally rewrite the results block of benchmarks/README.md.

    python benchmarks/compare.py                          # every result in benchmarks/results/
    python benchmarks/compare.py cpu.json h100.json orin.json --markdown all.md --plot all.png
    python benchmarks/compare.py --update-readme          # README block from benchmarks/results/
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from ssd_edge.cli.common import cli_entry  # noqa: E402
from ssd_edge.errors import SsdEdgeError  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("results", nargs="*", metavar="RESULT.json",
                   help="result files (default: every one in --results-dir)")
    p.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--markdown", metavar="FILE", help="write the merged Markdown")
    p.add_argument("--plot", metavar="FILE", help="write the merged PNG charts")
    p.add_argument("--update-readme", nargs="?", const=os.path.join(HERE, "README.md"),
                   metavar="README", help="rewrite the results block (default benchmarks/README.md)")
    return p


@cli_entry("compare.py")
def main(argv=None):
    from ssd_edge.bench.report import (load_result, markdown, result_files, update_readme,
                                       write_markdown)
    a = build_parser().parse_args(argv)
    paths = a.results or result_files(a.results_dir)
    if not paths:
        raise SsdEdgeError("expected result files, got none (no arguments and no ssd-bench "
                           "results in %s)" % a.results_dir)
    docs = [load_result(p) for p in paths]
    print(markdown(docs), end="")
    if a.markdown:
        write_markdown(a.markdown, docs)
    if a.plot:
        from ssd_edge.bench.plot import plot_results
        plot_results(docs, a.plot)
    if a.update_readme:
        update_readme(a.update_readme, docs)
    for path in (a.markdown, a.plot, a.update_readme):
        if path:
            print("wrote %s" % path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
