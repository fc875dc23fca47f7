"""Local AXME gateway emulator (no Django imports)."""
