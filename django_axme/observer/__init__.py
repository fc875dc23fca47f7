"""Following intent event streams in bounded slices, feeding the one writer.

- :func:`~django_axme.observer.single.observe_window_slice`: one stream window of one intent
  (what the ``observe_intent`` task runs per slice).
- :class:`~django_axme.observer.multiplex.MultiplexedSlice`: one slice over many intents in
  one task: a reader thread per stream, a few writer threads (each intent always handled by
  the same one) that ingest what the readers deliver in small batches (what ``observe_many``
  runs).

Both keep nothing that matters in memory: the cursor is ``Intent.last_seq`` in the database
and leases are rows (:mod:`django_axme.sync.leases`), so a killed process loses nothing.
"""

from __future__ import annotations

from django_axme.observer.multiplex import MultiplexedSlice, SliceReport
from django_axme.observer.single import SingleSliceResult, observe_window_slice

__all__ = ["MultiplexedSlice", "SingleSliceResult", "SliceReport", "observe_window_slice"]
