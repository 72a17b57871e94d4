"""MIMIC-IV patient segmentation helpers used by the dbt Python models."""

__version__ = "0.1.0"
