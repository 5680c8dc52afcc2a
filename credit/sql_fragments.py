"""SQL that credit exports for other domains' statements: the live tier of a resident, and tiers as numbers.

Other domains compose these into their own statements (the one-statement redemption stays one
statement) instead of spelling credit's tables or its tier order by hand.
"""

from __future__ import annotations

from credit.models import CreditScore, Subject
from credit.scoring import TIERS

SCORES = CreditScore._meta.db_table
SUBJECTS = Subject._meta.db_table


def live_tier_sql(resident: str) -> str:
    """A scalar subquery: the resident's current tier (NULL without a score). ``resident`` is an SQL expression."""
    return f"(SELECT s.tier FROM {SCORES} s JOIN {SUBJECTS} j ON j.id = s.subject_id WHERE j.resident_id = {resident})"


def tier_rank_sql(tier: str) -> str:
    """``tier`` (an SQL expression) as its position in ``credit.scoring.TIERS``: restricted (or unknown) 0 … AAA 5."""
    whens = " ".join(f"WHEN '{name}' THEN {rank}" for rank, name in enumerate(TIERS) if rank > 0)
    return f"CASE {tier} {whens} ELSE 0 END"


def tier_at_least_sql(tier: str, minimum: str) -> str:
    """Whether ``tier`` reaches ``minimum`` (both SQL expressions); restricted never does."""
    return f"{tier_rank_sql(tier)} >= {tier_rank_sql(minimum)}"
