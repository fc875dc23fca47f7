"""The webhook receiving view (``axme:webhook``); the logic is in
:mod:`django_axme.services.webhooks`."""
