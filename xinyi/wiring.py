"""Where domains hear of each other's events, wired once by the composition root (app and command line alike).

A lower domain never imports a higher one: credit announces tier changes to the listeners given
here, inside the transaction of the change, and partners' webhooks are one of them.
"""

from __future__ import annotations

from commitments.service import listen_to_broken_commitments
from credit.service import listen_to_tier_changes
from notices.service import on_tier_change as tell_the_resident
from offline.service import on_tier_change as note_tier_move
from partners.grants import listen_to_grant_revocations
from partners.scenarios import on_commitment_broken, withdraw_third_party_score
from partners.webhooks import on_tier_change


def wire() -> None:
    """Idempotent: partners hear of tier changes (``tier.changed`` webhooks), residents get a notice."""
    listen_to_tier_changes(on_tier_change)
    listen_to_tier_changes(tell_the_resident)
    # Offline bundles revoke the passes of residents whose tier fell: the moves are kept for them.
    listen_to_tier_changes(note_tier_move)
    # 信易批: the office that accepted a commitment hears ``commitment.broken``.
    listen_to_broken_commitments(on_commitment_broken)
    # A revoked grant: the provider's third-party score stops counting, the subject is rescored.
    listen_to_grant_revocations(withdraw_third_party_score)
