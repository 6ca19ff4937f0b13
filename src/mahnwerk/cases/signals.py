"""What the cases app announces after it changed cases.

``cases_changed`` is sent (inside the same transaction) with ``changes``: a list of
``(case, from_state, to_state)`` for every case whose state changed. Apps to the right
(dunning, collection) listen; the cases app never imports them.
"""

from django.dispatch import Signal

cases_changed = Signal()
