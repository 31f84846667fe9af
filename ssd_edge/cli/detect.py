"""ssd-detect (not landed yet)."""
import sys

from .common import not_landed

main = not_landed("ssd-detect", "the runtime and live streams")

if __name__ == "__main__":
    sys.exit(main())
