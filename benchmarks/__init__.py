"""Benchmarks of libs/events against raw baselines, measured side by side in one run.

Run with ``make bench`` (or ``python -m benchmarks --help``). Every figure is
measured for our code and for its baseline in the same process, one right
after the other, and reported as a ratio: these machines are too noisy for
absolute numbers to mean much (see /work/shared/PERFORMANCE.md).
"""
