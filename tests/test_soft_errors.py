"""Bad input to soft/ raises ValueError naming the problem."""
import numpy as np
import pytest

import soft


def test_signal_pattern_mismatch():
    with pytest.raises(ValueError, match="same channels and grid"):
        soft.correlate(np.zeros((3, 8, 8)), np.zeros((3, 16, 16)))
    with pytest.raises(ValueError, match="same channels and grid"):
        soft.align(np.zeros((3, 8, 8)), np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="do not broadcast"):
        soft.align(np.zeros((4, 1, 8, 8)), np.zeros((3, 1, 8, 8)))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 7, 7)), "even"),
    (np.zeros((1, 8, 6)), "square"),
    (np.full((1, 8, 8), np.inf), "NaN or inf"),
])
def test_bad_maps(bad, message):
    with pytest.raises(ValueError, match=message):
        soft.align(bad, np.zeros_like(bad))
    with pytest.raises(ValueError, match=message):
        soft.correlate(np.zeros_like(bad), bad)


def test_bad_options():
    x = np.zeros((1, 8, 8))
    with pytest.raises(ValueError, match="weighting"):
        soft.correlate(x, x, weighting="soft3")
    with pytest.raises(ValueError, match="score"):
        soft.align(x, x, score="max")
    with pytest.raises(ValueError, match="oversample"):
        soft.correlate(x, x, oversample=0)
    with pytest.raises(ValueError, match="channel_axis"):
        soft.correlate(x, x, channel_axis=5)
    with pytest.raises(ValueError, match="bandwidth"):
        soft.s2_grid(0)


def test_bandwidth_beyond_memory():
    x = np.zeros((1, 256, 256))  # b = 128
    with pytest.raises(ValueError, match="GiB"):
        soft.correlate(x, x, oversample=16)  # a 4096^3 grid
