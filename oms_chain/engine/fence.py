"""Which parents an engine works when several workers share one store, and the check every
send passes before it leaves.

An engine built with a :class:`SendFence` (a worker, :mod:`oms_chain.service.worker`) works
only the parents the fence says it owns: it resumes, reconciles and applies venue reports for
those alone, and calls :meth:`SendFence.before_send` for every child just before the request
goes to the venue, and :meth:`SendFence.before_cancel` / :meth:`SendFence.before_amend` just
before a cancel or an amend does. The worker's fence records each under the parent's lease with
its fencing token (:meth:`oms_chain.store.Leases.record_send`); a worker that lost the lease gets
:class:`~oms_chain.store.StaleFencingToken` there, and the request never leaves.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from oms_chain.model.ids import OrderId
from oms_chain.model.orders import Order

__all__ = ["SendFence"]


@runtime_checkable
class SendFence(Protocol):
    """Ownership of parents and the fencing check of sends (see the module docstring)."""

    def owns(self, parent_id: OrderId) -> bool:
        """Whether this engine works parent ``parent_id`` now (holds its lease)."""
        ...

    def before_send(self, child: Order) -> None:
        """Called with a recorded child just before its request leaves.

        Raises:
            LeaseLost: the parent's lease is no longer ours: the request must not leave.
        """
        ...

    def before_cancel(self, child: Order) -> None:
        """Called just before a cancel of ``child`` goes to its venue.

        Raises:
            LeaseLost: the parent's lease is no longer ours: the cancel must not leave.
        """
        ...

    def before_amend(self, child: Order, quantity: Decimal, limit_price: Decimal | None) -> None:
        """Called just before ``child``'s venue is asked to amend it to ``quantity`` at
        ``limit_price``.

        Raises:
            LeaseLost: the parent's lease is no longer ours: the amend must not leave.
        """
        ...
