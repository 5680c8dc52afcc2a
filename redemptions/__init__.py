"""The redemption ledger: redemptions at stores and through partners, the wallet (coupon claims), reversals, breaches, audit."""
