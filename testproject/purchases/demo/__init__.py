"""The one-command demo of django-axme (run it with ``scripts/demo``; see ``runner.py``)."""
