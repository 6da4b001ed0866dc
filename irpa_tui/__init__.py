"""irpa_tui: the Textual app over irpa_core."""
