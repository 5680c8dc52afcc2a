"""The frame of xinyi: settings, database, raw SQL and pools, Redis, auth, errors, HTTP helpers, WeChat, the frame of the app; no domain."""
