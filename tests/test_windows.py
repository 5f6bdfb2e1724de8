import numpy as np
import pytest
import torch

from tsgan.errors import ConfigError
from tsgan.windows import fold, sliding_windows, spread, window_starts


def test_windows_are_views_that_cover_every_point():
    x = torch.arange(20, dtype=torch.float32).reshape(10, 2)
    w = sliding_windows(x, window=4, stride=3)
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert w.shape == (3, 4, 2)
    assert w.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()  # a view, not a copy
    assert torch.equal(w[2], x[6:10])


def test_end_aligned_window_added_when_stride_misses_the_end():
    x = torch.arange(11, dtype=torch.float32).reshape(11, 1)
    assert window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]
    w = sliding_windows(x, window=4, stride=3)
    assert torch.equal(w[-1, :, 0], torch.tensor([7.0, 8, 9, 10]))


def test_fold_mean_median_max_by_hand():
    starts = np.array([0, 2])
    values = np.array([[1.0, 2, 3, 4], [10, 20, 30, 40]])  # window 4 over 6 points
    assert fold(values, starts, 6, "mean").tolist() == [1, 2, 6.5, 12, 30, 40]
    assert fold(values, starts, 6, "max").tolist() == [1, 2, 10, 20, 30, 40]
    three = np.array([[1.0, 1, 1], [5, 5, 5], [2, 2, 2]])  # window 3, stride 1 over 5 points
    assert fold(three, np.array([0, 1, 2]), 5, "median").tolist() == [1, 3, 2, 3.5, 2]


def test_fold_keeps_trailing_axes():
    values = np.ones((3, 4, 2)) * np.array([1.0, 2.0])
    out = fold(values, np.array([0, 2, 4]), 8, "mean")
    assert out.shape == (8, 2) and np.allclose(out, [1.0, 2.0])


def test_bad_window_arguments():
    with pytest.raises(ConfigError, match="shorter than one window"):
        window_starts(5, 10, 1)
    with pytest.raises(ConfigError, match="stride"):
        window_starts(50, 10, 0)
    with pytest.raises(ConfigError, match="unknown fold"):
        fold(np.ones((1, 2)), np.array([0]), 2, "mode")


@pytest.mark.parametrize("how", ["mean", "median", "max"])
@pytest.mark.parametrize("n_points, window, stride", [(50, 7, 1), (53, 7, 3), (10, 10, 1), (20, 1, 1)])
def test_spread_is_the_fold_of_values_repeated_over_each_window(n_points, window, stride, how):
    # The mean from running sums and the max at stride 1 from a running max: the same as `fold`.
    starts = window_starts(n_points, window, stride)
    values = np.random.default_rng(0).normal(size=(len(starts), 3)).astype(np.float32)
    repeated = np.broadcast_to(values[:, None, :], (len(starts), window, 3))
    assert np.allclose(
        spread(values, starts, window, n_points, how), fold(repeated, starts, n_points, how), atol=1e-6
    )
