"""Errors of deposit-free orders (contract codes where the contract names one)."""

from __future__ import annotations

from server.errors import Conflict, NotFound


class DepositFreeBlocked(Conflict):
    code = "DEPOSIT_FREE_BLOCKED"
    message = (
        "The resident already has an open deposit-free order with this merchant, or an overdue one somewhere."
    )


class OrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"
    message = "No such deposit-free order."


class OrderNotOpen(Conflict):
    code = "ORDER_NOT_OPEN"
    message = "Only an open deposit-free order can be completed or cancelled."


class OrderNotPayable(Conflict):
    code = "ORDER_NOT_PAYABLE"
    message = "Only an order awaiting payment or overdue can be settled."


class OrderNotOverdue(Conflict):
    code = "ORDER_NOT_OVERDUE"
    message = "An unpaid breach can be reported only for an overdue order once its grace period has passed."


class OrderNotDisputable(Conflict):
    code = "ORDER_NOT_DISPUTABLE"
    message = "Only the charges of an order awaiting payment or overdue can be disputed."


class DisputeOpen(Conflict):
    code = "DISPUTE_OPEN"
    message = "A dispute of this order's charges is already open."


class DisputeNotFound(NotFound):
    code = "DISPUTE_NOT_FOUND"
    message = "No such charge dispute."


class DisputeAlreadyDecided(Conflict):
    code = "DISPUTE_ALREADY_DECIDED"
    message = "This charge dispute was already decided."
