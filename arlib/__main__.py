"""``python -m arlib``: the same command line as the ``arlib`` console script."""

import sys

from arlib.cli import main

sys.exit(main())
