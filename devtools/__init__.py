"""Tools the test suite and the benchmarks share; no app imports them."""
