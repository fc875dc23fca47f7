"""Suite-wide test configuration. Emulator fixtures come from the ``pytest11`` plugin."""
