"""The composition root: the app factory (blueprints, resources, background tasks), the command line, the demo seed.

It stands above every package and imports them; nothing imports it (see ARCHITECTURE.md).
"""
