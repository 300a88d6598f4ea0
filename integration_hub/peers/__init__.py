"""Real peer systems (accounting/invoicing servers) run locally for tests, benchmarks, demos."""
