"""Benchmarks (see README.md); a package so the scripts share code as `benchmarks.<module>`."""
