"""Partner platforms: accounts, signed requests, volunteer intake (grants and webhooks later)."""
