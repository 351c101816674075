"""Benchmarks and harnesses: the engine, app, history and scale benchmarks, the pseudo-terminal
driver and sample-data writers. Imported only by the `bench` command and the tests; no product
module imports it."""
