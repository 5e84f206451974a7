"""``python -m foliocast`` runs the ``portfolio`` command line."""

from foliocast.portfolio.cli import main

raise SystemExit(main())
