"""``python -m django_axme.emulator --host 127.0.0.1 --port 8765 [--agent SPEC] ...``"""

from django_axme.emulator.cli import main

if __name__ == "__main__":  # pragma: no branch
    raise SystemExit(main())
