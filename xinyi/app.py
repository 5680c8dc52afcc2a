"""``create_app(settings)``: the application as a whole, composed from the frame and the domains.

The frame (``server.app``) gives the Sanic app its configuration, error model, middleware and
ops routes and starts the database, Redis and WeChat. Here the blueprints of the four audiences
are registered and each domain's resources are started after the frame's and stopped before
them, all held on a typed ``AppContext``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint, Sanic

from admin.breach_routes import bp as admin_breaches_bp
from admin.casework_routes import bp as admin_casework_bp
from admin.credit_routes import bp as admin_credit_bp
from admin.dashboard_routes import bp as admin_dashboard_bp
from admin.deposit_routes import bp as admin_deposits_bp
from admin.offer_routes import bp as admin_offers_bp
from admin.pilot_routes import bp as admin_pilots_bp
from admin.rights_routes import bp as admin_rights_bp
from admin.routes import bp as admin_bp
from admin.signals_routes import bp as admin_signals_bp
from admin.stats_routes import bp as admin_stats_bp
from commitments import tasks as commitment_tasks
from coupons import stock
from merchant_api.deposit_routes import bp as merchant_deposits_bp
from merchant_api.offer_routes import bp as merchant_offers_bp
from merchant_api.offline_routes import bp as merchant_offline_bp
from merchant_api.redemption_routes import bp as merchant_redemptions_bp
from merchant_api.routes import bp as merchant_bp
from merchant_api.scan_routes import bp as merchant_scans_bp
from miniprogram_api.coupon_routes import bp as mp_coupons_bp
from miniprogram_api.credit_routes import bp as mp_credit_bp
from miniprogram_api.deposit_routes import bp as mp_deposits_bp
from miniprogram_api.grant_routes import bp as mp_grants_bp
from miniprogram_api.my_data_routes import bp as mp_my_data_bp
from miniprogram_api.pass_routes import bp as mp_passes_bp
from miniprogram_api.rights_routes import bp as mp_rights_bp
from miniprogram_api.routes import bp as mp_bp
from miniprogram_api.scenario_routes import bp as mp_scenarios_bp
from notices import sender as notice_sender
from partners import signing, webhooks
from partners.admin_routes import bp as admin_partners_bp
from partners.routes import bp as partner_bp
from partners.scenario_routes import bp as partner_scenarios_bp
from passes import lifecycle as passes_lifecycle
from passes.routes import bp as passes_bp
from passes.service import PassRuntime
from public_api.pages import bp as public_pages_bp
from public_api.routes import bp as public_lists_bp
from public_api.tour_guide_routes import bp as public_tour_guides_bp
from redemptions import tasks as ledger_lifecycle
from server.app import create_frame_app, prepare_for_serving, start_frame, stop_frame
from server.context import FrameContext
from server.settings import Settings, load_settings
from server.sql import DirectPool
from signals import tasks as signal_tasks
from stats import tasks as stats_tasks
from xinyi.database import APPS
from xinyi.wiring import wire

BLUEPRINTS: tuple[Blueprint, ...] = (
    mp_bp,
    merchant_bp,
    admin_bp,
    mp_credit_bp,
    admin_credit_bp,
    passes_bp,
    mp_passes_bp,
    merchant_scans_bp,
    merchant_offers_bp,
    merchant_offline_bp,
    admin_offers_bp,
    partner_bp,
    admin_partners_bp,
    mp_grants_bp,
    merchant_redemptions_bp,
    mp_coupons_bp,
    admin_breaches_bp,
    mp_rights_bp,
    mp_my_data_bp,
    admin_rights_bp,
    merchant_deposits_bp,
    mp_deposits_bp,
    admin_deposits_bp,
    admin_casework_bp,
    admin_signals_bp,
    admin_pilots_bp,
    admin_stats_bp,
    public_lists_bp,
    public_pages_bp,
    admin_dashboard_bp,
    partner_scenarios_bp,
    mp_scenarios_bp,
    public_tour_guides_bp,
)


@dataclass
class AppContext(FrameContext):
    """Every resource of a worker: the frame's, and the domains' (set by ``start``)."""

    passes: PassRuntime = field(init=False)
    # the redemption ledger's pool (PostgreSQL); None: Tortoise's connections
    ledger: DirectPool | None = None


async def start(ctx: AppContext) -> None:
    """The frame first, then each domain that has start-up work."""
    await start_frame(ctx, APPS)
    ctx.passes = await passes_lifecycle.start(ctx)
    ctx.ledger = await ledger_lifecycle.start(ctx)
    stock.start(ctx, ctx.ledger)
    signing.start(ctx)
    commitment_tasks.start(ctx)  # 信易批: commitments past their deadline break (every 30 s)
    signal_tasks.start(ctx)  # SIGNALS_WORKER: fraud signal detection every SIGNALS_INTERVAL_S
    stats_tasks.start(ctx)  # STATS_ROLLUP_EVERY_S: the statistics' daily rollup
    notice_sender.start(ctx)  # NOTICE_WORKER: WeChat subscribe messages of new notices
    if ctx.settings.webhook_worker:  # WEBHOOK_WORKER: deliver partner webhooks from this process
        webhooks.start(ctx)  # a background task: it gives its claims back and closes when cancelled
    # What /metrics reads when scraped (server.metrics): the hot paths' pools, the webhook outbox.
    ctx.telemetry.watch_pool("hot", ctx.passes.db)
    ctx.telemetry.watch_pool("ledger", ctx.ledger)
    ctx.telemetry.read_at_scrape("webhooks", webhooks.outbox_readings)


async def stop(ctx: AppContext) -> None:
    """The reverse: background tasks, the domains' resources, then the frame's."""
    await ctx.stop_tasks()
    if getattr(ctx, "passes", None) is not None:
        await passes_lifecycle.stop(ctx.passes)
    await ledger_lifecycle.stop(ctx.ledger)
    ctx.ledger = None
    await stop_frame(ctx)


def create_app(settings: Settings | None = None, *, name: str = "xinyi") -> Sanic:
    """Build the application; nothing connects until the server starts."""
    settings = settings or load_settings()
    wire()
    app = create_frame_app(AppContext.for_settings(settings), name=name)
    for bp in BLUEPRINTS:
        app.blueprint(bp)

    @app.before_server_start
    async def _start(app: Sanic, _loop: Any = None) -> None:
        await start(app.ctx)

    @app.after_server_stop
    async def _stop(app: Sanic, _loop: Any = None) -> None:
        await stop(app.ctx)

    return app


def create_serving_app(settings: Settings) -> Sanic:
    """The app as ``xinyi serve`` runs it in each worker (see ``server.app.prepare_for_serving``)."""
    app = create_app(settings)
    prepare_for_serving(app)
    return app
