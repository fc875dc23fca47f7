"""System checks for the ``AXME`` setting (filled in by the settings work)."""
