"""Pass signing keys (seeds encrypted at rest) and the log of every scan, accepted or refused."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class PassKey(Model):
    """An Ed25519 pass signing key: the 32-byte seed, AES-GCM encrypted with the data key.

    The newest key without ``retired_at`` signs. A retired key stays in the JWK Set until every
    pass it may have signed has expired (see ``passes.keys``), then ``xinyi rotate-pass-key``
    deletes it.
    """

    kid = fields.CharField(max_length=16, primary_key=True)
    seed_enc = fields.TextField()
    # pass: signs passes (and what verifies with them); report: signs partners' credit reports.
    # Each purpose has its own current key and rotation; the JWK Set publishes both.
    purpose = fields.CharField(max_length=16, default="pass")
    created_at = fields.DatetimeField()
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "pass_keys"


class Scan(Model):
    """One scan of a pass by merchant staff, accepted or refused, with the reason code.

    Accepted scans carry the live tier, the store's offers a scan could grant at that moment
    (``offers``, each with its ``min_tier``: the benefits shown are those the tier qualifies
    for), and are the ``scan_id`` that the redemption ledger accepts until ``expires_at``. The ids are plain columns, not foreign
    keys, on purpose: a refused scan may name a store of another merchant or a resident who
    has just erased the account, and the log must keep it either way, and on PostgreSQL every
    foreign key check of an insert locks the referenced row (FOR KEY SHARE), which the hottest
    insert of the product should not pay for rows that the scan has just read anyway.
    ``resident_id`` is set whenever a genuine pass identified the resident (also for an expired
    or replayed one), so the resident's access log can show who scanned.
    """

    id = fields.UUIDField(primary_key=True)
    merchant_id = fields.UUIDField()
    store_id = fields.UUIDField()
    staff_id = fields.UUIDField()
    resident_id = fields.UUIDField(null=True)
    outcome = fields.CharField(max_length=16)  # accepted | refused
    reason = fields.CharField(max_length=32, null=True)  # the error code of a refused scan
    tier = fields.CharField(max_length=16, null=True)  # the live tier at the scan
    jti = fields.CharField(max_length=32, null=True)
    # candidates at the scan: offer_id, type, label, value, min_tier
    offers: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    idempotency_key = fields.CharField(max_length=128, null=True)
    request_hash = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)  # accepted scans: redemptions allowed until then

    class Meta:
        table = "pass_scans"
        unique_together = (("staff_id", "idempotency_key"),)
        indexes = (("merchant_id", "created_at"), ("resident_id", "created_at"))

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


class SpentPass(Model):
    """A pass id (``jti``) that an accepted scan consumed: the database's proof that a pass is used once.

    This primary key is the one check: the scan spends the pass in the statement that logs it,
    and a replay fails here (no Redis in front of it: asking Redis first was a second round trip
    that decided nothing the key does not).
    A row is needed only while its pass could still verify (``expires_at``: the pass's expiry,
    or its offline life when it has one, plus the verification leeway); rows older than that
    are purged every minute, so the table holds the passes of that window (up to about half a
    day with offline scanning) and no more.
    """

    jti = fields.CharField(max_length=32, primary_key=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "spent_passes"
