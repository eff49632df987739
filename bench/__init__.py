"""``make bench``: bianmin's benchmarks, written to ``docs/benchmarks.md`` with the machine,
the method, and baselines measured in the same run (issues 4 and 7)."""
