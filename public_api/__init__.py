"""The public's routes (/api/v1/public and the HTML pages under /public): no login, rate-limited per address."""
