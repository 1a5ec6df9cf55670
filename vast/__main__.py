"""`python -m vast ...` is the `vast` command."""

import sys

from vast.cli import main

sys.exit(main())
