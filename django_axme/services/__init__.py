"""Services: "ask AXME, hand the answer to ``sync``", shared by every front end.

A service reads the gateway with the client and passes what it learned to the one writer
(:mod:`django_axme.sync`). It knows nothing of the admin, the Celery tasks or the management
commands that call it, so each of them stays a thin caller.

- :mod:`django_axme.services.webhooks` -- verifying, recording and processing webhook
  deliveries.
"""
