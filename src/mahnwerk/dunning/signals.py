"""What the dunning app announces.

``letters_queued``: letters are waiting in the outbox for delivery (sent after the transaction
that queued them committed). The tasks module asks a worker to deliver; the outbox itself
imports nothing of the tasks.
"""

from django.dispatch import Signal

letters_queued = Signal()
