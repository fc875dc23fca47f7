"""The operations every front end calls: ask AXME, hand the answer to the one writer.

Each function takes a client (``django_axme.get_client()`` or any object with the same
methods) and returns a result; none imports the admin, Celery or the tasks. The admin turns
the results into messages, the tasks add Celery retries, the management commands count.
Nothing here writes a model directly: :mod:`django_axme.sync` does.

- :mod:`~django_axme.services.errors`: the one retry rule and the one ``last_error`` shape.
- :mod:`~django_axme.services.refresh`: read an intent (snapshot + events) or an inbox thread.
- :mod:`~django_axme.services.intents`: cancel, resume.
- :mod:`~django_axme.services.controls`: controls/policy compare-and-set on the generation.
- :mod:`~django_axme.services.inbox`: the inbox owners (one rule) and the changes feed.
- :mod:`~django_axme.services.decisions`: decide an approval (record, send, record answer).
- :mod:`~django_axme.services.sending`: send an outbox row, create a retry attempt.
- :mod:`~django_axme.services.webhooks`: verify, record and process webhook deliveries.
- :mod:`~django_axme.services.agent`: the agent side (read the agent stream, resolve).

The project's override point (the actor of an admin mutation, the identity that decides) is
:func:`django_axme.adapter.get_adapter` (``AXME["ADAPTER"]``).
"""
