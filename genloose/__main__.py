"""``python -m genloose`` runs the command line."""

import sys

from genloose.cli import main

sys.exit(main())
