"""`python -m arxiv_tui`."""

import sys

from arxiv_tui.cli.main import main

# The guard matters: child processes started with multiprocessing's spawn (bench) import this module again.
if __name__ == "__main__":
    sys.exit(main())
