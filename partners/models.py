"""Partner platforms and their credentials, residents' grants, merchant links, webhooks, access records."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from merchants.models import Merchant
    from residents.models import Resident


class PartnerKind(StrEnum):
    TOURISM = "tourism"
    VOLUNTEER = "volunteer"
    BANK = "bank"
    RENTAL = "rental"
    APPROVAL_OFFICE = "approval_office"
    SCORING = "scoring"


class PartnerScope(StrEnum):
    """What a partner's signed requests may do (a grant of a resident narrows it further)."""

    PASS_VERIFY = "pass:verify"
    TIER_READ = "tier:read"
    REDEMPTION_WRITE = "redemption:write"
    VOLUNTEER_WRITE = "volunteer:write"
    COMMITMENT_WRITE = "commitment:write"  # 信易批: an approval office records commitments
    REPORT_READ = "report:read"  # 信易贷: a bank asks for signed credit reports
    SCORE_WRITE = "score:write"  # a scoring provider posts third-party scores


class Partner(Model):
    """A platform that calls /api/v1/partner with HMAC-signed requests.

    The signing secret is stored encrypted (AES-GCM, bound to the partner id), never hashed,
    because verifying an HMAC and signing webhooks both need the secret itself. After a
    rotation the previous secret stays valid until previous_secret_expires_at.
    """

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=24)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    key = fields.CharField(max_length=64, unique=True)
    secret_enc = fields.TextField()
    previous_secret_enc = fields.TextField(null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    secret_rotated_at = fields.DatetimeField(null=True)
    webhook_url = fields.CharField(max_length=2048, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "partners"
        indexes = (("created_at", "id"),)

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class GrantStatus(StrEnum):
    """Stored states of a grant (``expired`` is derived from the dates when it is shown)."""

    PENDING = "pending"  # the authorization code was issued and not exchanged yet
    ACTIVE = "active"  # exchanged: the partner may act within the scopes until expires_at
    REVOKED = "revoked"  # the resident revoked it
    REPLACED = "replaced"  # a newer grant of the same resident to the same partner was exchanged


class Grant(Model):
    """A resident's authorisation of one partner for some scopes.

    The authorization code is stored as its SHA-256 only and is spent by one conditional
    update (status pending, not expired, this partner), so two concurrent exchanges of one code
    cannot both succeed. partner_user_ref is the pairwise pseudonym of the resident for this
    partner (a keyed hash, the same for every grant of the pair), kept here so that a partner's
    reference finds its grant with one indexed read.
    """

    id = fields.UUIDField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "partners.Partner", related_name="grants", on_delete=fields.CASCADE
    )
    partner_id: UUID
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "residents.Resident", related_name="partner_grants", on_delete=fields.CASCADE
    )
    resident_id: UUID
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    partner_user_ref = fields.CharField(max_length=40)
    status = fields.CharField(max_length=16, default=GrantStatus.PENDING.value)
    code_hash = fields.CharField(max_length=64, unique=True)
    code_expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    activated_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)  # set at the exchange
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "partner_grants"
        indexes = (
            ("partner_id", "partner_user_ref"),
            ("resident_id", "status"),
            ("resident_id", "created_at"),
        )


class PartnerMerchant(Model):
    """A merchant whose offers a partner may redeem online (the 信用合作联盟 agreement)."""

    id = fields.BigIntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "partners.Partner", related_name="merchant_links", on_delete=fields.CASCADE
    )
    partner_id: UUID
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "merchants.Merchant", related_name="partner_links", on_delete=fields.CASCADE
    )
    merchant_id: UUID
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "partner_merchants"
        unique_together = (("partner_id", "merchant_id"),)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    DELIVERING = "delivering"  # claimed by a worker until lease_until
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # no 2xx within the retry window, or the partner has no webhook URL any more


class WebhookDelivery(Model):
    """One webhook event for one partner: the transactional outbox and the delivery state in one row.

    The row is written in the transaction of the change that causes it, so an event exists if
    and only if the change committed. Its id is the event id (X-Event-Id) and body is the exact
    JSON sent on every attempt. A worker claims due rows (status pending and next_attempt_at
    passed, or delivering with an expired lease, which is how a crashed worker's claims come
    back), marks them delivering with a lease, sends them, and records the outcome only while it
    still holds the claim. window_started_at starts the retry window (the creation, or an admin's
    redelivery).
    """

    id = fields.UUIDField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "partners.Partner", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    partner_id: UUID
    type = fields.CharField(max_length=32)
    body = fields.TextField()
    status = fields.CharField(max_length=16, default=DeliveryStatus.PENDING.value)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    window_started_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_deliveries"
        indexes = (("status", "next_attempt_at"), ("partner_id", "created_at"))


class PartnerAccess(Model):
    """A partner's read or verification of a resident's data, for the resident's access log."""

    id = fields.UUIDField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "partners.Partner", related_name="accesses", on_delete=fields.CASCADE
    )
    partner_id: UUID
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "residents.Resident", related_name="partner_accesses", on_delete=fields.CASCADE
    )
    resident_id: UUID
    purpose = fields.CharField(max_length=32)  # tier_read | pass_verify | online_redemption | credit_report …
    at = fields.DatetimeField()

    class Meta:
        table = "partner_accesses"
        indexes = (("resident_id", "at"),)


class PartnerNonce(Model):
    """A nonce a partner signed a request with: the database's proof that it is used once within its window.

    Redis answers first; this unique key is the authority, so a signed request replayed after
    Redis lost its keys is still refused. Kept until the nonce's window is over (at least the
    contract's 10 minutes, and as long as its timestamp is acceptable), then purged.
    """

    id = fields.BigIntField(primary_key=True)
    partner_id = fields.UUIDField()
    nonce = fields.CharField(max_length=128)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "partner_nonces"
        unique_together = (("partner_id", "nonce"),)
