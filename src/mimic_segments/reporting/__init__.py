"""What people read: the HTML report, the Parquet export, the validation report, the marts digest."""
