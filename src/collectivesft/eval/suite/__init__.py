"""The benchmark suite: any registered Benchmark run through the shared runner, and a suite of them."""
