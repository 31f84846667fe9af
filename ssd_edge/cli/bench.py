"""ssd-bench (not landed yet)."""
import sys

from .common import not_landed

main = not_landed("ssd-bench", "the benchmark suite")

if __name__ == "__main__":
    sys.exit(main())
