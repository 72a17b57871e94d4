"""Obtaining and verifying MIMIC-IV inputs: the demo, the HCUP reference seed, a full release as Parquet."""
