"""Recording live market data to Parquet, the event log of a live run, and replaying it."""
