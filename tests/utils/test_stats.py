"""The one mean ± std estimator: sample standard deviation."""

import math
import statistics

from pyg_course.utils.stats import mean_std


def test_mean_std_is_the_sample_std():
    values = [0.81, 0.79, 0.84, 0.80]
    mean, std = mean_std(values)
    assert mean == statistics.fmean(values)
    assert math.isclose(std, math.sqrt(sum((v - mean) ** 2 for v in values) / 3))
    assert mean_std(iter(values)) == (mean, std)  # any iterable
    assert mean_std([2.5]) == (2.5, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))
