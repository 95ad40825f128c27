"""Hypothesis settings shared by the fuzz tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def fuzz(max_examples: int) -> settings:
    """Reproducible settings: a seed derived from the test's name, no deadline.

    ``derandomize`` makes CI run the same examples every time; pyx12 and the
    processors take far longer per example than hypothesis's default deadline.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
