"""Dates the tests pin, so that an expected value never depends on the day the suite runs.

The Factorial sandbox derives its demo data (and its random generator's seed) from a day; the
tests seed it with SANDBOX_DAY, never with the real date. The demo (`make run`) keeps today's.
"""
import datetime as dt

SANDBOX_DAY = dt.date(2026, 11, 21)
