"""``python -m ssd_edge.train`` — what ``torchrun --nproc-per-node N -m ssd_edge.train`` runs."""
import sys

from ..cli.train import main

if __name__ == "__main__":
    sys.exit(main())
