"""The commands: one run, the live grid, injection, results, reports, benchmarks and the CLI.

The top layer: may import every other layer; nothing imports it."""
