"""The frame of xinyi: app factory, settings, database, Redis, auth, errors, WeChat, CLI."""
