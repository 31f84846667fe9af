"""ssd-export (not landed yet)."""
import sys

from .common import not_landed

main = not_landed("ssd-export", "the exporter")

if __name__ == "__main__":
    sys.exit(main())
