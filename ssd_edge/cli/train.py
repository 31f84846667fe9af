"""ssd-train: train an SSD / SSD-Lite detector; ``torchrun ... -m ssd_edge.train`` for DDP."""
import logging
import sys

from .common import cli_entry
from .ranges import check_numeric_args


@cli_entry("ssd-train")
def main(argv=None):
    from ..train.options import parse_options
    opts = check_numeric_args(parse_options(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from ..eval.runner import evaluate_detector
    from ..train.trainer import train
    summary = train(opts, evaluate=evaluate_detector)
    if summary.get("last_checkpoint"):
        print("last checkpoint: %s" % summary["last_checkpoint"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
