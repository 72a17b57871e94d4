"""Synthetic full-size MIMIC-IV releases, fitted to the demo's aggregates, for testing at scale."""
