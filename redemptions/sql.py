"""The SQL of a redemption, and the connections it runs on.

A redemption is the second-hottest path of the product (after the scan) and moves money, so
it is written for few round trips *and* for exactness:

1. ``CONTEXT_SQL`` reads everything the checks need in one statement: the staff member (active,
   allowed in the scan's store), the scan, the offer (and whether it applies at the store), the
   live tier, the resident's counter for the offer's period, the coupon, a stored answer for the
   Idempotency-Key and an earlier redemption of the same partner order. ``redemptions.service``
   decides from that row which contract error applies, if any.
2. The writes then run in one transaction, each one a conditional write that re-checks what a
   concurrent request could have changed since the read, in this order: the tier (read again),
   the Idempotency-Key (``INSERT … ON CONFLICT DO NOTHING``: a concurrent first use of the key
   waits for the first transaction and then finds the key taken), the coupon (``active`` →
   ``used``), the per-resident counter (an upsert that only increments below the limit), the
   redemption row (a partial unique index allows one completed redemption per scan and offer,
   a unique constraint one per partner order), the audit row, and last the offer (status,
   window and stock re-checked by the ``UPDATE … WHERE redeemed_count < total_stock``; under
   READ COMMITTED a second writer waits for the row lock and re-evaluates the condition on the
   committed row). The offer row, which every redemption of a limited offer updates, is locked
   last, so it is held only for the commit. Where there is no stock to take now, the offer row
   is only share-locked (``FOR KEY SHARE``): a coupon took its unit at the claim, and an offer
   without a stock limit gets its unit folded into ``redeemed_count`` shortly after
   (``coupons.stock.fold_counts``), so its redemptions never queue behind each other's
   commits, while a change of the offer's terms (``FOR UPDATE``) waits for those in flight, and
   those that come after see the new terms (a stock set on an unlimited offer is never oversold). If any step does not happen
   the transaction is rolled back and the context is read again to name the reason.

On PostgreSQL the writes are one statement of chained data-modifying CTEs (``redeem_statement``,
each step reads the previous one's ``RETURNING``, so they run in that order and stop at the
first that does not happen), sent on its own: one statement is one transaction. If the chain
stops after a write (say the counter was incremented and then the stock ran out), the
statement divides by zero on purpose, which aborts it and with it every write of the chain.
Why not ``BEGIN`` … ``COMMIT``: the offer row is locked from its ``UPDATE`` until the commit,
and with an explicit transaction that includes a round trip to the application and back,
which on a busy worker is milliseconds of waiting for the event loop; every redemption of a
popular offer queues behind that lock, so it bounds the offer's redemptions per second. In
one statement the lock is held only for the server's own commit. Two round trips in all
(the context, the writes), on a small pool of the ledger's own (``server.sql.DirectPool``, held on the app context), with
durable commits and no reset query when a connection goes back to the pool. Elsewhere
(SQLite, or PostgreSQL without the pool) the same steps run one statement at a time in a
Tortoise transaction (``STEP_SQL``); SQLite serialises writers, so there is nothing to race.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from coupons.models import Offer
from coupons.pilots import pilot_allows_sql
from coupons.stock import PENDING, pending_units_sql
from coupons.suspensions import DEPOSIT_WAIVER, suspended_sql
from credit.sql_fragments import live_tier_sql, tier_at_least_sql
from merchants.models import Staff, Store
from passes.models import Scan
from redemptions.models import (
    AuditEntry,
    Coupon,
    IdempotencyRecord,
    Redemption,
    RedemptionCounter,
)

log = logging.getLogger(__name__)

OFFERS = Offer._meta.db_table
OFFER_STORES = Offer._meta.fields_map["stores"].through  # type: ignore[attr-defined]
STAFF = Staff._meta.db_table
STORES = Store._meta.db_table
STAFF_STORES = Staff._meta.fields_map["stores"].through  # type: ignore[attr-defined]
SCANS = Scan._meta.db_table
COUPONS = Coupon._meta.db_table
REDEMPTIONS = Redemption._meta.db_table
COUNTERS = RedemptionCounter._meta.db_table
IDEMPOTENCY = IdempotencyRecord._meta.db_table
AUDIT = AuditEntry._meta.db_table


# $1 staff  $2 scan  $3 offer  $4 coupon  $5 idempotency scope  $6 idempotency key  $7 partner
# $8 external order  $9 resident (partner channel)  $10 store (partner channel)  $11 day key  $12 month key
_RESIDENT = "COALESCE(sc.resident_id, $9)"


def _in_pilot(store: str) -> str:
    """The offer's scenario is in no pilot, or the store (an SQL expression) lies inside it (``coupons.pilots``)."""
    return pilot_allows_sql("o.scenario", f"(SELECT ps.region FROM {STORES} ps WHERE ps.id = {store})")


CONTEXT_SQL = f"""
SELECT
  st.merchant_id AS staff_merchant_id,
  (st.role = 'owner' OR EXISTS (SELECT 1 FROM {STAFF_STORES} ss WHERE ss.staff_id = st.id AND ss.store_id = sc.store_id))
    AS staff_in_store,
  sc.merchant_id AS scan_merchant_id, sc.store_id AS scan_store_id, sc.resident_id AS scan_resident_id,
  sc.outcome AS scan_outcome, sc.expires_at AS scan_expires_at,
  o.merchant_id AS offer_merchant_id, o.status AS offer_status, o.type AS offer_type, o.value AS offer_value,
  o.min_tier, o.requires_claim, o.valid_from, o.valid_until, o.total_stock, o.redeemed_count + {pending_units_sql("o.id")}
    AS redeemed_count, o.per_resident_limit, o.per_resident_period,
  (o.all_stores OR EXISTS (SELECT 1 FROM {OFFER_STORES} os
                           WHERE os.offer_id = o.id AND os.store_id = COALESCE(sc.store_id, $10))) AS offer_at_store,
  (COALESCE(sc.store_id, $10) IS NULL OR {_in_pilot("COALESCE(sc.store_id, $10)")}) AS offer_in_pilot,
  {live_tier_sql(_RESIDENT)} AS tier,
  (o.type = '{DEPOSIT_WAIVER}' AND {suspended_sql(_RESIDENT)}) AS waiver_suspended,
  (SELECT c.used FROM {COUNTERS} c
   WHERE c.offer_id = o.id AND c.resident_id = {_RESIDENT}
     AND c.period_key = CASE o.per_resident_period WHEN 'day' THEN $11 WHEN 'month' THEN $12 ELSE 'total' END) AS used,
  EXISTS (SELECT 1 FROM {REDEMPTIONS} r WHERE r.scan_id = sc.id AND r.offer_id = o.id AND r.status = 'completed')
    AS already_redeemed,
  cp.resident_id AS coupon_resident_id, cp.offer_id AS coupon_offer_id, cp.status AS coupon_status,
  cp.expires_at AS coupon_expires_at,
  ir.request_hash AS stored_hash, ir.status_code AS stored_status, ir.response AS stored_response,
  pr.id AS prior_id, pr.request_hash AS prior_hash, pr.offer_id AS prior_offer_id, pr.discount_fen AS prior_discount_fen,
  pr.deposit_waived_fen AS prior_deposit_waived_fen, pr.order_amount_fen AS prior_order_amount_fen,
  pr.coupon_id AS prior_coupon_id, pr.store_id AS prior_store_id, pr.status AS prior_status,
  pr.created_at AS prior_created_at
FROM (SELECT 1 AS one) base
LEFT JOIN {STAFF} st ON st.id = $1 AND st.is_active
LEFT JOIN {SCANS} sc ON sc.id = $2
LEFT JOIN {OFFERS} o ON o.id = $3
LEFT JOIN {COUPONS} cp ON cp.id = $4
LEFT JOIN {IDEMPOTENCY} ir ON ir.scope = $5 AND ir.key = $6
LEFT JOIN {REDEMPTIONS} pr ON pr.partner_id = $7 AND pr.external_order_id = $8
"""

# --- the writes on PostgreSQL: one statement ------------------------------------------------------
#
# The offer's terms that price a redemption come from a per-worker cache (``redemptions.service``), so
# the statement can be sent without reading first. It re-checks everything itself (``gate``): the
# staff member and the scan (or the partner's resident), the offer's status, window and store,
# and that the cached terms are still the offer's terms. When anything differs, or a step does
# not happen, nothing is written and ``redemptions.service`` reads the context to name the reason (or
# to refresh the terms and go again).

# The statement is written with named parameters (``@name``) and compiled, per shape of offer, to
# one that holds only the steps that shape needs (see ``redeem_statement``).

_TERMS_HOLD = """o.status = 'active' AND o.valid_from <= @now::timestamptz AND o.valid_until > @now::timestamptz
    AND o.type = @offer_type::varchar AND o.value IS NOT DISTINCT FROM @offer_value::int
    AND o.min_tier = @min_tier::varchar AND o.requires_claim = @requires_claim::boolean
    AND (o.total_stock IS NULL) = @unlimited::boolean
    AND o.per_resident_limit IS NOT DISTINCT FROM @per_resident_limit::int
    AND o.per_resident_period IS NOT DISTINCT FROM @per_resident_period::varchar
    AND (@coupon_id::uuid IS NOT NULL) = @requires_claim::boolean
    AND (o.type <> 'percent_off' OR @order_amount_fen::int IS NOT NULL)"""

# The store channel: an active staff member allowed in the store of an accepted, unexpired scan
# of the same merchant (of the resident the caller expects, if it named one), whose offer applies
# at that store.
_STORE_GATE = f"""
  SELECT sc.resident_id, st.merchant_id, sc.store_id
  FROM {STAFF} st
  JOIN {SCANS} sc ON sc.id = @scan_id::uuid AND sc.merchant_id = st.merchant_id
  JOIN {OFFERS} o ON o.id = @offer_id::uuid AND o.merchant_id = st.merchant_id
  WHERE st.id = @staff_id::uuid AND st.is_active
    AND (st.role = 'owner' OR EXISTS (SELECT 1 FROM {STAFF_STORES} ss WHERE ss.staff_id = st.id AND ss.store_id = sc.store_id))
    AND sc.outcome = 'accepted' AND sc.resident_id IS NOT NULL AND sc.expires_at > @now::timestamptz
    AND (@resident_id::uuid IS NULL OR sc.resident_id = @resident_id::uuid)
    AND (@store_id::uuid IS NULL OR sc.store_id = @store_id::uuid)
    AND (o.all_stores OR EXISTS (SELECT 1 FROM {OFFER_STORES} os WHERE os.offer_id = o.id AND os.store_id = sc.store_id))
    AND {_in_pilot("sc.store_id")}
    AND {_TERMS_HOLD}
"""

# The partner channel: the resident the partner named; a store only if the partner gave one.
_PARTNER_GATE = f"""
  SELECT @resident_id::uuid AS resident_id, o.merchant_id, @store_id::uuid AS store_id
  FROM {OFFERS} o
  WHERE o.id = @offer_id::uuid
    AND (@store_id::uuid IS NULL OR o.all_stores
         OR EXISTS (SELECT 1 FROM {OFFER_STORES} os WHERE os.offer_id = o.id AND os.store_id = @store_id::uuid))
    AND (@store_id::uuid IS NULL OR {_in_pilot("@store_id::uuid")})
    AND {_TERMS_HOLD}
"""

_RESPONSE_JSON = (
    "json_build_object('id', @redemption_id::uuid::text, 'offer_id', @offer_id::uuid::text, "
    "'discount_fen', @discount_fen::int, 'deposit_waived_fen', @deposit_waived_fen::int, "
    "'order_amount_fen', @order_amount_fen::int, 'coupon_id', @coupon_id::uuid::text, "
    "'store_id', g.store_id::text, 'status', 'completed', 'created_at', @created_at_text::text)::text"
)

_REDEMPTION_COLUMNS = (
    "id, channel, merchant_id, offer_id, resident_id, store_id, scan_id, staff_id, partner_id, external_order_id, "
    "coupon_id, offer_type, offer_value, tier, order_amount_fen, discount_fen, deposit_waived_fen, period_key, "
    "took_stock, request_hash, status, created_at, business_day"
)
_AUDIT_COLUMNS = "at, actor_type, actor_id, action, target_type, target_id, merchant_id, details"

# Each step: its SQL, given the name of the step before it, which has a row exactly when
# everything so far happened (so the steps run in this order and stop at the first that does not).
_TIER_OK = f"""tier_ok AS (
  SELECT t.tier FROM gate g, LATERAL (SELECT {live_tier_sql("g.resident_id")} AS tier) t
  WHERE {tier_at_least_sql("t.tier", "@min_tier::varchar")}
)"""
_IDEM = f"""idem AS (
  -- The Idempotency-Key's answer (a concurrent first use of the key waits here, then finds it taken).
  INSERT INTO {IDEMPOTENCY} (scope, key, request_hash, status_code, response, created_at, expires_at)
  SELECT @idem_scope::varchar, @idem_key::varchar, @idem_hash::varchar, 201, {_RESPONSE_JSON}, @now::timestamptz,
         @idem_expires_at::timestamptz
  FROM gate g WHERE EXISTS (SELECT 1 FROM {{prev}})
  ON CONFLICT (scope, key) DO NOTHING
  RETURNING 1 AS ok
)"""
_COUPON = f"""coupon AS (
  UPDATE {COUPONS} c SET status = 'used', used_at = @now::timestamptz, redemption_id = @redemption_id::uuid
  FROM gate g
  WHERE c.id = @coupon_id::uuid AND c.resident_id = g.resident_id AND c.offer_id = @offer_id::uuid
    AND c.status = 'active' AND c.expires_at > @now::timestamptz AND EXISTS (SELECT 1 FROM {{prev}})
  RETURNING 1 AS ok
)"""
_COUNTER = f"""counter AS (
  -- The resident's counter for the period, incremented only below the limit.
  INSERT INTO {COUNTERS} (offer_id, resident_id, period_key, used)
  SELECT @offer_id::uuid, g.resident_id, @period_key::varchar, 1 FROM gate g WHERE EXISTS (SELECT 1 FROM {{prev}})
  ON CONFLICT (offer_id, resident_id, period_key) DO UPDATE SET used = {COUNTERS}.used + 1
  WHERE {COUNTERS}.used < @per_resident_limit::int
  RETURNING 1 AS ok
)"""
_REDEMPTION = f"""redemption AS (
  INSERT INTO {REDEMPTIONS} ({_REDEMPTION_COLUMNS})
  SELECT @redemption_id::uuid, @channel::varchar, g.merchant_id, @offer_id::uuid, g.resident_id, g.store_id,
         @scan_id::uuid, @staff_id::uuid, @partner_id::uuid, @external_order_id::varchar, @coupon_id::uuid,
         @offer_type::varchar, @offer_value::int, t.tier, @order_amount_fen::int, @discount_fen::int,
         @deposit_waived_fen::int, @period_key::varchar, NOT @requires_claim::boolean, @request_hash::varchar,
         'completed', @now::timestamptz, @business_day::date
  FROM gate g, tier_ok t WHERE EXISTS (SELECT 1 FROM {{prev}})
  RETURNING merchant_id, store_id, tier
)"""
_AUDIT = f"""audit AS (
  INSERT INTO {AUDIT} ({_AUDIT_COLUMNS})
  SELECT @now::timestamptz, @actor_type::varchar, @actor_id::uuid, 'redemption.completed', 'redemption',
         @redemption_id::uuid, r.merchant_id,
         @audit_details::jsonb || jsonb_build_object('store_id', r.store_id, 'tier', r.tier)
  FROM redemption r
  RETURNING 1 AS ok
)"""
_STOCK = f"""stock AS (
  -- A limited offer: take the unit, the offer row last (the gate read it from the statement's
  -- snapshot, this re-checks the committed row after waiting for its lock).
  UPDATE {OFFERS} SET redeemed_count = redeemed_count + 1
  WHERE id = @offer_id::uuid AND status = 'active' AND valid_from <= @now::timestamptz
    AND valid_until > @now::timestamptz
    AND total_stock IS NOT NULL AND redeemed_count + {pending_units_sql("@offer_id::uuid")} < total_stock
    AND EXISTS (SELECT 1 FROM audit)
  RETURNING 1 AS ok
)"""
_PENDING_UNIT = f"""stock AS (
  -- An unlimited offer: the unit is noted, and folded into redeemed_count later; the gate's
  -- check of the offer (under its share lock) is enough.
  INSERT INTO {PENDING} (redemption_id, offer_id)
  SELECT @redemption_id::uuid, @offer_id::uuid FROM audit
  RETURNING 1 AS ok
)"""
_NO_STOCK = """stock AS (
  -- A coupon took its unit at the claim: nothing to take now.
  SELECT 1 AS ok FROM audit
)"""
LAST_STEPS = {"stock": _STOCK, "pending": _PENDING_UNIT, "none": _NO_STOCK}

# A deposit waiver is refused while the resident's deposit-free benefits are suspended (an unpaid
# deposit-free order, ``coupons.suspensions``): one index lookup, only in the statements of that type.
_NOT_SUSPENDED = f"  AND NOT {suspended_sql('g.resident_id')}\n"


@lru_cache(maxsize=64)
def redeem_statement(
    channel: str, *, idempotent: bool, coupon: bool, counter: bool, last: str, waiver: bool = False
) -> tuple[str, tuple[str, ...]]:
    """The redemption as one statement for this shape of offer and request, and its parameters' names in order.

    Only the steps the shape needs are in it: PostgreSQL opens and locks every table and index a
    statement names, rows or not, and that was most of a redemption's cost.
    ``last``: ``stock`` (take a unit of a limited offer), ``pending`` (note a unit of an unlimited
    offer) or ``none`` (a coupon's unit was taken at the claim).
    """
    gate = _STORE_GATE if channel == "store" else _PARTNER_GATE
    if last != "stock":
        # No UPDATE of the offer row to wait on a change of its terms (a stock being set, a pause):
        # a share lock does (shared with other redemptions), and if the terms changed meanwhile
        # the gate is re-evaluated on the new row and lets nothing through.
        gate += "  FOR KEY SHARE OF o\n"
    tier_ok = _TIER_OK.replace("\n)", "\n" + _NOT_SUSPENDED + ")") if waiver else _TIER_OK
    steps, prev = [f"gate AS ({gate})", tier_ok], "tier_ok"
    writes = []
    for wanted, template, name in (
        (idempotent, _IDEM, "idem"),
        (coupon, _COUPON, "coupon"),
        (counter, _COUNTER, "counter"),
    ):
        if wanted:
            steps.append(template.format(prev=prev))
            writes.append(name)
            prev = name
    steps += [_REDEMPTION.format(prev=prev), _AUDIT, LAST_STEPS[last]]
    writes.append("redemption")
    any_write = " UNION ALL ".join(f"SELECT 1 FROM {name}" for name in writes)
    sql = (
        "WITH "
        + ",\n".join(steps)
        + f"""
SELECT CASE
  WHEN EXISTS ({any_write})
    -- Something was written: with the last step too that is the redemption (1/1), without it
    -- a division by zero aborts the statement, so nothing of the broken chain is kept.
    THEN 1 / (SELECT count(*) FROM stock)::int = 1
  ELSE false
END AS done,
(SELECT store_id FROM redemption) AS store_id
"""
    )
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"@([a-z_]+)", number, sql), tuple(names)


# The same steps one at a time (each returns a row when it happened), in the same order.
STEP_SQL = {
    "tier": f"SELECT {live_tier_sql('$1')} AS tier",
    "suspended": f"SELECT 1 AS suspended WHERE {suspended_sql('$1')}",
    "idem": f"INSERT INTO {IDEMPOTENCY} (scope, key, request_hash, status_code, response, created_at, expires_at) "
    "VALUES ($1, $2, $3, 201, $4, $5, $6) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
    "coupon": f"UPDATE {COUPONS} SET status = 'used', used_at = $2, redemption_id = $3 "
    "WHERE id = $1 AND resident_id = $4 AND offer_id = $5 AND status = 'active' AND expires_at > $2 RETURNING id",
    "counter": f"INSERT INTO {COUNTERS} (offer_id, resident_id, period_key, used) VALUES ($1, $2, $3, 1) "
    f"ON CONFLICT (offer_id, resident_id, period_key) DO UPDATE SET used = {COUNTERS}.used + 1 "
    f"WHERE {COUNTERS}.used < $4 RETURNING used",
    "redemption": f"INSERT INTO {REDEMPTIONS} ({_REDEMPTION_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
    "'completed', $21, $22)",
    "audit": f"INSERT INTO {AUDIT} ({_AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    "stock": f"UPDATE {OFFERS} SET redeemed_count = redeemed_count + 1 "
    "WHERE id = $1 AND status = 'active' AND valid_from <= $2 AND valid_until > $2 "
    f"AND (total_stock IS NULL OR redeemed_count + {pending_units_sql('$1')} < total_stock) "
    "RETURNING redeemed_count",
    "running": f"SELECT 1 AS ok FROM {OFFERS} WHERE id = $1 AND status = 'active' AND valid_from <= $2 AND valid_until > $2 "
    "AND ($3 = 0 OR total_stock IS NULL)",
    "pending": f"INSERT INTO {PENDING} (redemption_id, offer_id) VALUES ($1, $2)",
}


# Fold one offer's pending units into its redeemed_count (the caller holds the offer row's lock).

# The same as one statement (PostgreSQL, on the ledger pool): the lock on the offer row is held
# only for the statement and its commit, never across a round trip to a busy worker. FOR NO KEY
# UPDATE does not wait for the redemptions' FOR KEY SHARE, but a stock being set (FOR UPDATE)
# waits for it or it for the stock; the offer is locked before any pending row, as there.


# --- the ledger's own connections (PostgreSQL) ------------------------------------------------
