"""``python -m foliocast.portfolio`` runs the command line."""

import sys

from foliocast.portfolio.cli import main

sys.exit(main())
