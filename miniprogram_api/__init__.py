"""The resident-facing routes (/api/v1/mp): thin, they call the domain services."""
