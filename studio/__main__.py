"""`python -m studio` = the `tradeoff-studio` entry point."""

import sys

from studio.app import main

sys.exit(main())
