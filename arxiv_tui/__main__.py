"""`python -m arxiv_tui`."""

import sys

from arxiv_tui.cli import main

sys.exit(main())
