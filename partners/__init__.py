"""Partner platforms: accounts, signed requests, grants, volunteer intake, webhooks, the access log, and their routes."""
