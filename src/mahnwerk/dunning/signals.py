"""What the dunning app announces.

``letters_queued``: letters are waiting in the outbox for delivery (sent after the transaction
that queued them committed). The receivers ask a worker to deliver, through the tasks module;
the outbox itself imports nothing of the tasks.
"""

from django.dispatch import Signal

letters_queued = Signal()
