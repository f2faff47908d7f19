"""dlt wiring, run orchestration and the `lune-pipeline` command line."""
