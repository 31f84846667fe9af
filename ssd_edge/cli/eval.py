"""ssd-eval (not landed yet)."""
import sys

from .common import not_landed

main = not_landed("ssd-eval", "evaluation and datasets")

if __name__ == "__main__":
    sys.exit(main())
