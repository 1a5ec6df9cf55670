"""`vast bench`: every stage of the system measured side by side in one run (see `vast.bench.cli`)."""
