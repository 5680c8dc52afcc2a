"""Credit of residents: subjects, records, volunteer hours, rulesets as versioned data, the pure scoring engine, scores."""
