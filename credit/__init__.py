"""Credit scoring: rulesets as versioned data and the pure scoring engine."""
