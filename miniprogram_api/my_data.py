"""A resident's own data across the domains: the copy of everything held (PIPL arts. 45) and the erasure (art. 47).

Each domain says what it holds about a resident and what an erasure does to it (its
``personal_data`` module; partners' grants and access log are read through their own listings);
this module, at the audience level because partners is one, puts them together.

**Export.** Every row, read the way the resident's own lists show it (identity masked as in
``GET /me``; no token hashes, no partner secrets, no staff ids, nobody else's data), in one JSON
document.

**Erasure.** One transaction: the account is locked, partner grants revoked (each partner that held
one hears ``grant.revoked``), the credit subject unlinked (its public records stay with it and
attach to whichever account binds that ID number next) with the score and history computed for the
account deleted, open cases withdrawn, uploads, notices and subscribe allowances deleted, the
identity, phone, name and openid cleared, consent withdrawn and every refresh token revoked. The
row stays as a pseudonymous shell that ledgers (scans, redemptions, grants, cases, consent events)
keep naming; its access tokens are refused from then on (``residents.service.current_resident``).
The uploads' bytes are deleted from the blob store after the commit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tortoise.transactions import in_transaction

from credit import personal_data as credit_data
from credit.schemas import HistoryItem, RecordItem, ScoreOut, VolunteerItem
from credit.scores import local_today
from credit.service import tier_for_residents
from deposits import personal_data as deposits_data
from deposits.schemas import DisputeOut, ResidentOrderOut
from notices import personal_data as notices_data
from notices.schemas import NotificationOut
from partners import access_log, grants
from partners.schemas import AccessLogItem, GrantOut
from passes import personal_data as passes_data
from passes.schemas import BenefitItem
from redemptions import personal_data as ledger_data
from redemptions.schemas import BreachOut, ResidentRedemptionOut, WalletCoupon
from residents import personal_data as residents_data
from residents.models import Resident
from residents.schemas import MeOut
from rights import personal_data as rights_data
from rights.schemas import AttachmentOut, ObjectionOut, RepairOut, SelfReportOut
from server.auth import Audience, TokenService
from server.crypto import FieldCipher
from server.pagination import all_items
from server.storage import BlobStore

log = logging.getLogger("xinyi.my_data")
BATCH = 500


# --- the export's shape -----------------------------------------------------------------------


class AccountOut(MeOut):
    created_at: datetime
    last_login_at: datetime | None
    consent_version: str | None
    consented_at: datetime | None
    identity_bound_at: datetime | None


class ConsentEventOut(BaseModel):
    version: str
    action: str = Field(description="accepted | withdrawn")
    at: datetime


class VolunteerHoursOut(VolunteerItem):
    external_id: str = Field(description="the record's id at the volunteer platform")
    created_at: datetime
    updated_at: datetime


class Named(BaseModel):
    id: str
    name: str


class MyScanOut(BaseModel):
    id: str
    merchant: Named
    store: Named
    outcome: str = Field(description="accepted | refused")
    reason: str | None = Field(description="a refused scan: its error code")
    tier: str | None = Field(description="the live tier the merchant saw")
    benefits: list[BenefitItem]
    created_at: datetime


class ExportOut(BaseModel):
    """Everything held about me, each list complete (not paged)."""

    resident: AccountOut = Field(description="my account, identity masked as in GET /me")
    consents: list[ConsentEventOut] = Field(description="every acceptance and withdrawal of the terms")
    records: list[RecordItem] = Field(description="my credit records with their states, as GET /records")
    scores: list[ScoreOut] = Field(description="my stored score with its factors (none before binding)")
    score_history: list[HistoryItem]
    volunteer_hours: list[VolunteerHoursOut]
    scans: list[MyScanOut] = Field(description="every scan of my passes")
    redemptions: list[ResidentRedemptionOut]
    coupons: list[WalletCoupon]
    grants: list[GrantOut]
    access_log: list[AccessLogItem]
    objections: list[ObjectionOut]
    repairs: list[RepairOut]
    self_reports: list[SelfReportOut]
    notifications: list[NotificationOut]
    generated_at: datetime
    breaches: list[BreachOut] = Field(description="merchants' reports that I broke a benefit's terms")
    attachments: list[AttachmentOut] = Field(description="my uploads (what they are; GET /attachments/{id})")
    subscribe_allowances: dict[str, int] = Field(description="WeChat messages still allowed, per template")
    deposit_free_orders: list[ResidentOrderOut] = Field(description="my deposit-free stays and rentals")
    charge_disputes: list[DisputeOut] = Field(description="my disputes of deposit-free orders' charges")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    download: bool | None = Field(default=None, description="1: as an attachment (Content-Disposition)")


# --- the export -------------------------------------------------------------------------------


async def export(resident: Resident, *, cipher: FieldCipher, now: datetime) -> dict[str, Any]:
    """``GET /mp/export``: everything held about the resident, every list complete."""
    tier = (await tier_for_residents([resident.id])).get(resident.id) if resident.identity_bound else None
    credit = await credit_data.export_for(resident.id)
    ledger = await ledger_data.export_for(resident.id, now=now)
    cases = await rights_data.export_for(resident.id, now=now)
    inbox = await notices_data.export_for(resident.id)
    deposits = await deposits_data.export_for(resident.id)
    return {
        "resident": residents_data.account_export(resident, cipher=cipher, tier=tier),
        "consents": await residents_data.consents_export(resident.id),
        "records": credit["records"],
        "scores": credit["scores"],
        "score_history": credit["score_history"],
        "volunteer_hours": credit["volunteer_hours"],
        "scans": await passes_data.export_for(resident.id),
        "redemptions": ledger["redemptions"],
        "coupons": ledger["coupons"],
        "grants": await all_items(
            lambda cursor: grants.list_grants(resident, now=now, limit=BATCH, cursor=cursor)
        ),
        "access_log": await all_items(
            lambda cursor: access_log.resident_access_log(resident.id, limit=BATCH, cursor=cursor)
        ),
        "objections": cases["objections"],
        "repairs": cases["repairs"],
        "self_reports": cases["self_reports"],
        "notifications": inbox["notifications"],
        "generated_at": now,
        "breaches": ledger["breaches"],
        "attachments": cases["attachments"],
        "subscribe_allowances": inbox["subscribe_allowances"],
        "deposit_free_orders": deposits["deposit_free_orders"],
        "charge_disputes": deposits["charge_disputes"],
    }


def export_filename(now: datetime) -> str:
    """The download's name, dated on the residents' calendar: ``xinyi-my-data-20261101.json``."""
    return f"xinyi-my-data-{local_today(now):%Y%m%d}.json"


# --- the erasure ------------------------------------------------------------------------------


async def erase(resident: Resident, *, tokens: TokenService, blobs: BlobStore, now: datetime) -> None:
    """``DELETE /mp/me``: the account erased in one transaction (see the module's docstring); then the uploads' bytes.

    Erasing twice (two taps, a retry) finds the account erased and does nothing more.
    """
    async with in_transaction() as conn:
        account = await residents_data.lock_account(conn, resident.id)
        if account is None:
            return
        await grants.revoke_all(conn, account.id, now=now)
        # Unlinked before the cases are withdrawn, so that what a withdrawal does to a record
        # rescores nothing and tells nobody: the subject belongs to no account any more.
        await credit_data.detach_resident(conn, account.id)
        await rights_data.withdraw_open_cases(conn, account.id, now=now)
        blob_keys = await rights_data.erase_attachments(conn, account.id)
        await notices_data.erase_for(conn, account.id)
        await residents_data.erase_account(conn, account, now=now)
        await tokens.revoke_subject(Audience.RESIDENT, str(account.id), conn=conn, now=now)
    for key in blob_keys:
        try:
            await blobs.delete(key)
        except OSError as exc:  # the rows are gone; a file left behind names nobody and is logged to be swept
            log.warning("erased resident's upload %s was not deleted from the blob store: %s", key, exc)
