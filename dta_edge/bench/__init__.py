"""Benchmarks: suites of systems run through Generator backends, with energy meters."""
