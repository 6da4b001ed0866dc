"""python -m irpa_core.cli: the same as the irpa command."""

import sys

from . import main

sys.exit(main())
