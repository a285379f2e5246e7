"""Input validation shared by the soft/ entry points: clear ValueErrors, no silent garbage."""
import os

import numpy as np


def as_maps(x, name):
    """Return x as an array of (..., 2b, 2b) maps and its bandwidth b."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., 2b, 2b), got shape {x.shape}")
    rows, cols = x.shape[-2:]
    if rows != cols:
        raise ValueError(f"{name} must be a square (..., 2b, 2b) grid, got {rows} x {cols}")
    if rows % 2 or rows == 0:
        raise ValueError(f"{name} grid side must be even (2b), got {rows}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    check_finite(x, name)
    return x, rows // 2


def check_finite(x, name):
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")


def available_bytes():
    """Memory this process may use: MemAvailable from /proc, else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(n_bytes, what):
    """Raise ValueError if n_bytes would exceed half the memory available now."""
    limit = available_bytes() // 2
    if n_bytes > limit:
        raise ValueError(
            f"{what} needs {n_bytes / 2**30:.1f} GiB but only {limit / 2**30:.1f} GiB may be used "
            "(half of the memory available); lower the bandwidth, the oversampling or the batch")
