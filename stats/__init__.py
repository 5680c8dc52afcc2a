"""Statistics for regulators: daily rollups of scans and the ledger, grouped cells with small-cell suppression."""
