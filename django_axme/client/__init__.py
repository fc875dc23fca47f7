"""HTTP client for the AXME API (no Django imports)."""
