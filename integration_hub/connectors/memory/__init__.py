"""An in-process invoicing tool and accounting tool, for tests, edge cases and benchmarks."""
