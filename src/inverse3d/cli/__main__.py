"""`python -m inverse3d.cli ...` is the `inverse3d` command line."""

import sys

from inverse3d.cli import main

sys.exit(main())
