"""Offers of merchants (within the regulator's approval), coupons in the wallet, the redemption ledger."""
