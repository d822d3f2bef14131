"""`python -m natjax` runs the command line."""

import sys

from natjax.cli import main

sys.exit(main())
