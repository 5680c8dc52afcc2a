"""Where domains hear of each other's events, wired once by the composition root (app and command line alike).

A lower domain never imports a higher one: credit announces tier changes to the listeners given
here, inside the transaction of the change, and partners' webhooks are one of them.
"""

from __future__ import annotations

from credit.service import listen_to_tier_changes
from notices.service import on_tier_change as tell_the_resident
from partners.webhooks import on_tier_change


def wire() -> None:
    """Idempotent: partners hear of tier changes (``tier.changed`` webhooks), residents get a notice."""
    listen_to_tier_changes(on_tier_change)
    listen_to_tier_changes(tell_the_resident)
