"""`python -m natjax` runs the command line."""

import sys

from natjax.cli.main import main

sys.exit(main())
