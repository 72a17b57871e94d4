"""The feature catalogue: the one definition of every patient feature, read by dbt, Python and tests."""
