"""ssd-doctor (not landed yet)."""
import sys

from .common import not_landed

main = not_landed("ssd-doctor", "the Jetson checks")

if __name__ == "__main__":
    sys.exit(main())
