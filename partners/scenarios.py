"""The other 信易+ scenarios through the partner API: 信易批 commitments, 信易贷 signed reports,
third-party scores; what each partner call does around the domains' services.

Every call needs the partner's scope (the signed route) and the resident's active grant holding
that scope (``grants.require_grant``, 403 ``GRANT_REQUIRED``), and lands in the resident's access
log. **A report's purpose**: the grant's scope ``report:read`` is the resident's consent to
credit reports for that bank (the scope names the purpose: 信易贷 credit assessment); the
``purpose`` a bank sends with each request (e.g. ``loan_application``) is recorded with the report
and shown to the resident, and is not matched against the grant. Revoking the grant refuses every
later report (403 ``GRANT_REQUIRED``); a report already issued stays valid until its ``exp``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from commitments import service as commitments
from commitments.models import Commitment
from credit import reports as credit_reports
from credit import third_party
from partners import access_log, webhooks
from partners.grants import require_grant
from partners.models import Grant, Partner, PartnerScope
from passes.keys import REPORT_TTL_S
from passes.reports import sign_report
from server.crypto import FieldCipher
from server.dbtypes import DbConn
from server.http import page

COMMITMENT_BROKEN = "commitment.broken"


# --- 信易批 -----------------------------------------------------------------------------------


async def accept_commitment(
    partner: Partner,
    *,
    ref: str,
    matter: str,
    missing_items: list[str],
    due_at: datetime,
    external_id: str,
    now: datetime,
) -> commitments.Accepted:
    """``commitment:write``: the office accepted a matter on the resident's commitment (see ``commitments.service``)."""
    granted = await require_grant(partner, ref, scope=PartnerScope.COMMITMENT_WRITE, now=now)
    accepted = await commitments.accept(
        partner_id=partner.id,
        resident_id=granted.resident_id,
        matter=matter,
        missing_items=missing_items,
        due_at=due_at,
        external_id=external_id,
        now=now,
    )
    if accepted.created:
        await access_log.record(
            partner_id=partner.id, resident_id=granted.resident_id, purpose=access_log.COMMITMENT, at=now
        )
    return accepted


async def on_commitment_broken(conn: DbConn, commitment: Commitment, now: datetime) -> None:
    """``commitment.broken`` to the office that accepted it, in the breaking transaction (wired in ``xinyi.wiring``)."""
    if not await Partner.filter(id=commitment.partner_id, webhook_url__isnull=False).using_db(conn).exists():
        return
    grant = (
        await Grant.filter(partner_id=commitment.partner_id, resident_id=commitment.resident_id)
        .using_db(conn)
        .first()
    )
    data = {
        "id": str(commitment.id),
        "external_id": commitment.external_id,
        "partner_user_ref": grant.partner_user_ref if grant else None,
        "matter": commitment.matter,
        "due_at": commitment.due_at.isoformat(),
        "status": "broken",
        "broken_at": now.isoformat(),
    }
    await webhooks.enqueue(conn, [(commitment.partner_id, COMMITMENT_BROKEN, data)], now=now)


# --- 信易贷 -----------------------------------------------------------------------------------


async def issue_report(
    partner: Partner, *, ref: str, purpose: str, cipher: FieldCipher, now: datetime
) -> dict[str, Any]:
    """``report:read``: a signed credit report of the resident for this bank, logged for the resident.

    The payload: ``report_id``, ``partner_user_ref``, score, tier, ruleset version, factor codes and
    points, record counts by category and severity within publicity, volunteer hours of the last
    twelve months, ``iat`` and ``exp`` (30 days). No name, no ID number, no record titles.
    """
    granted = await require_grant(partner, ref, scope=PartnerScope.REPORT_READ, now=now)
    facts = await credit_reports.report_facts(granted.resident_id, now=now)
    report_id = uuid.uuid4()
    iat = int(now.timestamp())
    exp = iat + REPORT_TTL_S
    payload = {
        "report_id": str(report_id),
        "partner_user_ref": ref,
        "score": facts["score"],
        "tier": facts["tier"],
        "ruleset_version": facts["ruleset_version"],
        "factors": facts["factors"],
        "records": facts["records"],
        "volunteer_hours_12m": facts["volunteer_hours_12m"],
        "iat": iat,
        "exp": exp,
    }
    token, kid = await sign_report(cipher, payload, now=now)
    expires_at = datetime.fromtimestamp(exp, now.tzinfo)
    async with in_transaction() as conn:
        await credit_reports.log_report(
            conn,
            report_id=report_id,
            subject_id=facts["subject_id"],
            resident_id=granted.resident_id,
            partner_id=partner.id,
            purpose=purpose,
            kid=kid,
            payload=payload,
            issued_at=now,
            expires_at=expires_at,
        )
        await access_log.record(
            partner_id=partner.id,
            resident_id=granted.resident_id,
            purpose=access_log.CREDIT_REPORT,
            at=now,
            using_db=conn,
        )
    return {"id": str(report_id), "report": token, "kid": kid, "expires_at": expires_at}


async def resident_reports(
    resident_id: uuid.UUID, *, limit: int, cursor: str | None, now: datetime
) -> dict[str, Any]:
    """``GET /mp/reports``: every report issued about me, to whom, why, when and until when, newest first."""
    rows, next_cursor = await credit_reports.reports_page(resident_id, limit=limit, cursor=cursor)
    names = dict(await Partner.filter(id__in={r.partner_id for r in rows}).values_list("id", "name"))
    items = [
        {
            "id": str(r.id),
            "partner": {"id": str(r.partner_id), "name": names.get(r.partner_id, "")},
            "purpose": r.purpose,
            "issued_at": r.issued_at,
            "expires_at": r.expires_at,
            "valid": r.expires_at > now,
            "disclosed": {
                k: r.payload.get(k)
                for k in ("score", "tier", "ruleset_version", "factors", "records", "volunteer_hours_12m")
            },
        }
        for r in rows
    ]
    return page(items, next_cursor)


# --- third-party scores -----------------------------------------------------------------------


async def post_third_party_score(
    partner: Partner,
    *,
    ref: str,
    score: float,
    scale_min: float,
    scale_max: float,
    as_of: datetime,
    valid_until: datetime,
    now: datetime,
) -> dict[str, Any]:
    """``score:write``: the provider's score of the resident, counting until ``valid_until`` (and the grant's end)."""
    granted = await require_grant(partner, ref, scope=PartnerScope.SCORE_WRITE, now=now)
    grant = await Grant.get(id=granted.grant_id)
    stored = await third_party.post_score(
        partner_id=partner.id,
        provider=partner.name,
        resident_id=granted.resident_id,
        score=score,
        scale_min=scale_min,
        scale_max=scale_max,
        as_of=as_of,
        valid_until=valid_until,
        grant_expires_at=grant.expires_at,
        now=now,
    )
    await access_log.record(
        partner_id=partner.id, resident_id=granted.resident_id, purpose=access_log.THIRD_PARTY_SCORE, at=now
    )
    return {"partner_user_ref": ref, **stored}


async def withdraw_third_party_score(conn: DbConn, grant: Grant, now: datetime) -> None:
    """A grant of the pair ended (revoked, or replaced by one without ``score:write``): the partner's
    third-party score stops counting and the subject is rescored (wired in ``xinyi.wiring``)."""
    standing = await Grant.filter(
        partner_id=grant.partner_id, resident_id=grant.resident_id, status="active", expires_at__gt=now
    ).using_db(conn)
    if any(PartnerScope.SCORE_WRITE in (g.scopes or []) for g in standing):
        return
    await third_party.withdraw(conn, partner_id=grant.partner_id, resident_id=grant.resident_id, now=now)
