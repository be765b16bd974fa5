"""``python main.py ...``: the same as the ``etlcrew`` command."""

import sys

from etlcrew.cli import main

if __name__ == "__main__":
    sys.exit(main())
