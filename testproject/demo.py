#!/usr/bin/env python
"""Run the django-axme demo (``scripts/demo`` calls this; ``--help`` lists the options)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from purchases.demo.runner import main

if __name__ == "__main__":
    sys.exit(main())
