"""Where the vendored AXME specification lives in this repository (see tests/data/axme/README.md).

Tests read the JSON Schemas and the OpenAPI document only through these paths, so a clone with
nothing beside it runs the whole suite.
"""

from __future__ import annotations

from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent / "data" / "axme"
PUBLIC_API_SCHEMAS = SPEC_DIR / "schemas" / "public_api"
PROTOCOL_SCHEMAS = SPEC_DIR / "schemas" / "protocol"
OPENAPI_PATH = SPEC_DIR / "openapi" / "gateway.v1.json"
