"""What the intake announces after it applied platform records.

The intake knows nothing of cases (data flows one way, docs/architecture.md); the cases app
listens to these signals and follows the data in the same database transaction.

Each signal is sent with ``ids`` (the platform ids that were created or changed) and ``actor``
(who sent the data: ``import:<file>``, ``api:<client>``, ``demo-data``).
"""

from django.dispatch import Signal

orders_applied = Signal()
incidents_applied = Signal()
payments_applied = Signal()
