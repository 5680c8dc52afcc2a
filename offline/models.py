"""Offline scanning: what devices uploaded (one row per device and sequence number), the offline
redemptions that the ledger did not take (for the merchant to settle), and the tier moves that
feed the bundles' revocation sets."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class OfflineScan(Model):
    """One uploaded item: a pass a device scanned with no network, and what became of it.

    ``(merchant_id, device_id, seq)`` is unique: an item uploaded again answers its stored
    ``result`` and changes nothing. ``outcome`` is ``pending`` only while the item is being
    processed (an upload interrupted mid-item resumes it). The accepted scan in the pass scan log
    has this row's ``id``.
    """

    id = fields.UUIDField(primary_key=True)
    merchant_id = fields.UUIDField()
    store_id = fields.UUIDField()
    device_id = fields.CharField(max_length=64)
    seq = fields.BigIntField()
    staff_id = fields.UUIDField()
    jti = fields.CharField(max_length=32, null=True)
    resident_id = fields.UUIDField(null=True)
    scanned_at = fields.DatetimeField()
    uploaded_at = fields.DatetimeField()
    outcome = fields.CharField(max_length=16)  # pending | accepted | duplicate | refused | over_limit
    reason = fields.CharField(max_length=32, null=True)
    result: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)

    class Meta:
        table = "offline_scans"
        unique_together = (("merchant_id", "device_id", "seq"),)
        indexes = (("store_id", "uploaded_at"), ("store_id", "outcome", "uploaded_at"))


class OfflineRedemption(Model):
    """A redemption a device granted offline: taken by the ledger (``redeemed``, with its id) or not
    (``over_limit``: the stock or the resident's limit was used up; ``refused``: another ledger
    rule, with its code), for the merchant to settle."""

    id = fields.UUIDField(primary_key=True)
    offline_scan_id = fields.UUIDField()
    position = fields.SmallIntField()  # its place in the item's redemptions
    merchant_id = fields.UUIDField()
    store_id = fields.UUIDField()
    offer_id = fields.UUIDField()
    order_amount_fen = fields.BigIntField(null=True)
    outcome = fields.CharField(max_length=16)  # redeemed | over_limit | refused
    reason = fields.CharField(max_length=32, null=True)
    redemption_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "offline_redemptions"
        unique_together = (("offline_scan_id", "position"),)
        indexes = (("merchant_id", "outcome", "created_at"),)


class TierMove(Model):
    """A change of a resident's live tier (credit's tier-change hook): the revocation sets of offline
    bundles list the passes of residents whose tier fell below the tier their passes carry."""

    id = fields.BigIntField(primary_key=True)
    resident_id = fields.UUIDField()
    from_tier = fields.CharField(max_length=16)
    to_tier = fields.CharField(max_length=16)
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "offline_tier_moves"
        indexes = (("resident_id", "at"),)
