"""``python -m portfolio`` runs the command line."""

import sys

from portfolio.cli import main

sys.exit(main())
