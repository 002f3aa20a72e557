"""``python -m grader``: the same command line as the ``arlib-grade`` console script."""

import sys

from grader.cli import main

sys.exit(main())
