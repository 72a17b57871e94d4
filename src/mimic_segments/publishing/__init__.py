"""Building into a candidate database and publishing it atomically for BI readers."""
