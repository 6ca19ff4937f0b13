"""What the intake announces after it applied platform records.

The intake knows nothing of cases (data flows one way, docs/architecture.md); the cases app
listens to these signals and follows the data in the same database transaction.

Each signal is sent with ``ids`` (the platform ids that were created or changed) and ``actor``
(who sent the data: ``import:<file>``, ``api:<client>``, ``demo-data``). ``payments_applied``
also carries ``sources``: for an order whose payment was read from a bank statement, the
statement and booking (``{"statement": ..., "entry": ...}``), else nothing.

There is no buyer feed: a buyer record is the data of the buyer's newest order, written by an
``apply_records`` call with the orders (a large order CSV applied whole writes it once, with
the batch that holds the buyer's newest order in the file). ``orders_applied`` announces every
new or changed order (a new order, or an order sent again with a corrected address); the cases
app follows a buyer's newest address from the orders themselves, never from the buyer record.

``incidents_read`` is sent by the reading process of a large incident file (a second process
beside the one that writes, ``importing._Reader``) for each batch it has read, with
``order_ids``: a receiver may answer with what it will want to know of those orders, read
with that process's own connection (it sees only what is committed: the orders, which an
incident import does not change). The first answer that is not None comes back to the writer
with the batch and goes on as ``incidents_applied``'s ``read_ahead``; without one (a file read
in one process, the intake API) it is None.
"""

from django.dispatch import Signal

orders_applied = Signal()
incidents_applied = Signal()
incidents_read = Signal()
payments_applied = Signal()
