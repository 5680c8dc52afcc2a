"""Delivers the WeChat subscribe messages of notices marked ``pending`` (an acceptance was used for them).

A notice is claimed (``pending`` → ``sending``) by one conditional update before it is sent, so two
workers never send it twice; then it is ``sent``, or ``failed`` with WeChat's answer (43101: the
user withdrew the subscription). A message is never retried after WeChat refused it: the
acceptance it used is spent either way, as WeChat counts it. The inbox keeps every notice.
The loop runs inside ``serve`` (``NOTICE_WORKER``, off under ``XINYI_ENV=test``, where tests call
``send_pending`` themselves).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from notices.models import Notification
from residents.models import Resident
from server.context import FrameContext
from server.wechat import WeChat, WeChatError

log = logging.getLogger("xinyi.notices")
BATCH = 100
STUCK_AFTER = timedelta(minutes=5)  # a worker that died while sending: its claims go back to pending
PAGE = "pages/notifications/index"


def message_data(n: Notification) -> dict[str, Any]:
    """The template's fields (WeChat limits ``thing`` values to 20 characters)."""
    local = n.created_at.astimezone(UTC) + timedelta(hours=8)
    return {
        "thing1": {"value": n.title[:20]},
        "thing2": {"value": n.body[:20]},
        "time3": {"value": local.strftime("%Y-%m-%d %H:%M")},
    }


async def send_pending(wechat: WeChat, templates: dict[str, str], *, limit: int = BATCH) -> int:
    """Send up to ``limit`` pending messages, oldest first; returns how many WeChat accepted."""
    now = datetime.now(UTC)
    await Notification.filter(subscribe_status="sending", created_at__lt=now - STUCK_AFTER).update(
        subscribe_status="pending"
    )
    pending = await Notification.filter(subscribe_status="pending").order_by("created_at").limit(limit)
    sent = 0
    for notice in pending:
        if not await Notification.filter(id=notice.id, subscribe_status="pending").update(
            subscribe_status="sending"
        ):
            continue  # another worker claimed it
        outcome, error = await _send(wechat, templates, notice)
        await Notification.filter(id=notice.id).update(subscribe_status=outcome, subscribe_error=error)
        sent += outcome == "sent"
    return sent


async def _send(wechat: WeChat, templates: dict[str, str], notice: Notification) -> tuple[str, str | None]:
    template_id = templates.get(notice.kind)
    if not template_id:
        return "failed", f"no template id configured for {notice.kind}"
    resident = await Resident.get_or_none(id=notice.resident_id)
    openid = resident.openid if resident is not None else None
    if not openid:
        return "failed", "the resident has no WeChat account any more"
    try:
        await wechat.send_subscribe_message(
            openid=openid, template_id=template_id, data=message_data(notice), page=f"{PAGE}?id={notice.id}"
        )
    except WeChatError as exc:
        if exc.errcode is None:
            return "pending", None  # WeChat could not be reached: the next pass tries again
        return "failed", f"{exc.errcode}: {exc.detail_message}"[:200]  # refused (43101: not subscribed)
    return "sent", None


async def run(wechat: WeChat, templates: dict[str, str], *, every_s: float) -> None:
    """The sender inside ``serve``: a pass every ``every_s`` seconds; a database outage is waited out."""
    while True:
        try:
            await send_pending(wechat, templates)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep the loop alive through outages; the next pass retries
            log.warning("subscribe-message pass failed: %s", type(exc).__name__)
        await asyncio.sleep(every_s)


def start(ctx: FrameContext) -> None:
    """Inside ``serve``: the sender loop, unless ``NOTICE_WORKER=0`` (and under ``XINYI_ENV=test``)."""
    settings = ctx.settings
    if settings.notice_worker:
        ctx.start_task(run(ctx.wechat, settings.wechat_subscribe_templates, every_s=settings.notice_poll_s))
