"""The statistics' daily rollups (kept by ``stats.rollup``, never written by a request) and the rollup's watermarks."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class DailyCell(Model):
    """One China Standard Time business day of one store, one offer (null: the scans) and one tier.

    Scans land in rows without an offer, redemptions in rows with one. The merchant, the
    store's region (GB/T 2260, 6 digits; an online redemption has no store and takes its
    merchant's region) and the offer's scenario are copied, so that a query filters and groups
    without joining. ``residents`` is the exact set of distinct residents of the row (scanned,
    or with a completed redemption) as a serialized roaring bitmap of resident numbers
    (``residents.numbers``): sets of different rows are united, never added, so a resident
    counted on two days or at two stores is one resident of the sum.
    """

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    store_id = fields.UUIDField(null=True)
    offer_id = fields.UUIDField(null=True)
    tier = fields.CharField(max_length=16, null=True)
    merchant_id = fields.UUIDField()
    region = fields.CharField(max_length=6)
    scenario = fields.CharField(max_length=16, null=True)
    scans_accepted = fields.IntField(default=0)
    scans_refused = fields.IntField(default=0)
    redemptions = fields.IntField(default=0)  # completed, not reversed
    discount_fen = fields.BigIntField(default=0)
    deposit_waived_fen = fields.BigIntField(default=0)
    resident_count = fields.IntField(default=0)
    residents = fields.BinaryField()

    class Meta:
        table = "stats_daily"
        indexes = (("day", "region"), ("merchant_id", "day"))


class DailyRegion(Model):
    """The coarser rollup: one day of one region, all stores, offers and tiers, at three levels.

    ``level`` is how many digits of the stores' codes the row keeps: 6 (the county, the store's
    own code), 4 (the prefecture, ``532900``) or 2 (the province, ``530000``). It answers a query
    grouped by region and/or day (a year of a province: ~130 counties × 365 days, 16 prefectures
    × 365) without reading the per-store rows, and without uniting sets when the query's level is
    the row's. Built from the per-store rows by the same job in the same transaction.
    """

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    level = fields.SmallIntField()  # 2 | 4 | 6
    region = fields.CharField(max_length=6)
    scans_accepted = fields.IntField(default=0)
    scans_refused = fields.IntField(default=0)
    redemptions = fields.IntField(default=0)
    discount_fen = fields.BigIntField(default=0)
    deposit_waived_fen = fields.BigIntField(default=0)
    resident_count = fields.IntField(default=0)
    residents = fields.BinaryField()

    class Meta:
        table = "stats_daily_regions"
        unique_together = (("level", "day", "region"),)


class RollupMark(Model):
    """How far the rollup has read a source (scans, redemptions, reversals): its watermark.

    ``watermark`` is the newest timestamp the rollup has seen; ``seen`` how many rows of the
    source lay in the overlap window ``(watermark - OVERLAP, watermark]`` then. A row that
    commits a little after rows stamped later (a transaction in flight) still lands in that
    window, so a changed count finds it: nothing changed when the count and the newest
    timestamp are what they were.
    """

    source = fields.CharField(max_length=16, primary_key=True)
    watermark = fields.DatetimeField(null=True)
    seen = fields.IntField(default=0)

    class Meta:
        table = "stats_rollup_marks"
