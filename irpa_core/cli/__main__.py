"""python -m irpa_core.cli: the same as the irpa command."""

from . import entry

entry()
