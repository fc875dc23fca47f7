"""Purchase requests: the example app of the django-axme test project.

A purchase request is sent to AXME as an intent through the outbox
(:func:`django_axme.send_intent_on_commit`); large amounts go to an agent that asks a human
for approval. The app never polls AXME: its receivers (``purchases.receivers``) follow the
django-axme signals and move each request through its own small lifecycle.
"""
