"""Versioned schema migrations, one package per Tortoise app (tortoise makemigrations / xinyi migrate)."""
