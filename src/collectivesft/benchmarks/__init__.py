"""Benchmarks: what each benchmark's files and formats are (one package per benchmark)."""
