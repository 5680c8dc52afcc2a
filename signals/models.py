"""Fraud signals (Tortoise app ``signals``): what detection found, and how far it has looked."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Signal(Model):
    """Something in the scan log or the ledger a regulator should look at.

    ``kind`` is one of ``signals.detect.KINDS`` (others may record their own through
    ``signals.service.record_signal``). ``resident_ref`` is a pseudonym for regulators
    (``signals.service.regulator_ref``), never a resident id or name; ``""`` when the signal is
    about a store, not a resident, so that the unique key (kind, store, window start, resident)
    holds for both and detection running twice over the same minutes finds its row again.
    """

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    merchant_id = fields.UUIDField()
    store_id = fields.UUIDField()
    resident_ref = fields.CharField(max_length=32, default="")
    window_start = fields.DatetimeField()
    window_end = fields.DatetimeField()
    count = fields.IntField()
    detail: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "signals"
        unique_together = (("kind", "store_id", "window_start", "resident_ref"),)
        indexes = (("window_start", "id"), ("merchant_id", "window_start"))


class SignalWatermark(Model):
    """How far detection has looked (``done_until``), and a lease so one run at a time does the work.

    A run takes the lease with a conditional update (``running_until`` empty or past), so two
    workers, or a worker and ``xinyi detect-signals``, never detect side by side.
    """

    name = fields.CharField(max_length=32, primary_key=True)
    done_until = fields.DatetimeField(null=True)
    running_until = fields.DatetimeField(null=True)

    class Meta:
        table = "signal_watermarks"
