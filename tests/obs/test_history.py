"""The metrics history's quantiles, as Prometheus's ``histogram_quantile`` computes them."""

from __future__ import annotations

import math

from workhorse.obs.history import quantile


def test_a_quantile_is_interpolated_within_its_bucket() -> None:
    # 10 observations at most 0.1 s, 10 more at most 0.5 s, none above.
    buckets = [(0.1, 10.0), (0.5, 20.0), (math.inf, 20.0)]
    assert quantile(0.5, buckets) == 0.1
    assert quantile(0.75, buckets) == 0.1 + (0.5 - 0.1) * 0.5
    assert quantile(0.25, buckets) == 0.05


def test_the_top_bucket_answers_its_lower_bound_and_no_data_answers_none() -> None:
    assert quantile(0.99, [(1.0, 1.0), (math.inf, 100.0)]) == 1.0
    assert quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    assert quantile(0.5, []) is None
