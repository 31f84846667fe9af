"""ssd-train (not landed yet)."""
import sys

from .common import not_landed

main = not_landed("ssd-train", "training")

if __name__ == "__main__":
    sys.exit(main())
