"""Benchmarks: ``python -m bench`` measures the service against a baseline in the same run.

Benchmarks are not tests: they print figures (medians of alternating rounds, and ratios to a
baseline measured minutes apart on the same machine) and never fail on noise.
"""
