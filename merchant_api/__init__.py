"""The merchant-facing routes (/api/v1/merchant): staff accounts, scans, offers, redemptions, reports. Thin: they call the domain services."""
