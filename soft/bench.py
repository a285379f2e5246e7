"""Benchmark soft/ against the peers installed, in the same run: python -m soft.bench.

Prints milliseconds (best of several repeats: the machine is shared and noisy) and
ratios peer / soft, for
1. a full correlation of two real single-channel maps (S2 transforms, combine,
   inverse SO(3) transform, argmax) at b = 16, 32, 64, and the S2 transform alone;
2. the evaluation workload: aligning pairs of 32x32x64 embeddings (b = 16, 64
   channels), pairs per second, against the peers' per-channel route (correlate
   channel by channel, sum the grids, argmax; as the original MATLAB step did);
3. table set-up time and peak memory at b = 64.
Peers: pysofft (Fortran SOFT 2.0 rewrite; correlation from coefficients), pyshtools
(S2 transform, on its own grid), lie_learn and s2fft when importable.
"""
import argparse
import importlib
import time
import tracemalloc

import numpy as np

import soft

# the package exports functions named like these modules; fetch the modules themselves
correlate_module = importlib.import_module("soft.correlate")
sht_module = importlib.import_module("soft.sht")
wigner_module = importlib.import_module("soft.wigner")


def best_ms(fn, repeats):
    fn()  # warm-up: plans, tables, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def load_peers():
    peers, missing = {}, {}
    for name in ("pysofft", "pyshtools", "lie_learn", "s2fft"):
        try:
            if name == "lie_learn":
                import collections, collections.abc  # lie_learn 0.0.2 needs this on Python 3.11
                collections.Iterable = collections.abc.Iterable
                importlib.import_module("lie_learn.spectral.SO3FFT_Naive")
            peers[name] = importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - any import failure means "not available"
            missing[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:70]}"
    return peers, missing


def pysofft_layout(b):
    """Gather index from soft's (b, 2b-1) coefficients to pysofft's real layout."""
    index = np.zeros(b * (b + 1) // 2, dtype=int)
    for m in range(b):
        for l in range(m, b):
            index[(m * (2 * b - 1 - m)) // 2 + l] = l * (2 * b - 1) + m + b - 1
    return index


class PeerRoute:
    """pyshtools S2 transforms + pysofft correlation + argmax (what a user of the peers would run)."""

    def __init__(self, peers, b):
        self.b, self.sh = b, peers.get("pyshtools")
        self.soft = peers["pysofft"].Soft(b)
        self.index = pysofft_layout(b)

    def coefficients(self, f):
        if self.sh is not None:  # pyshtools' real expansion on its own 2b x 2b grid
            cilm = self.sh.expand.SHExpandDH(f, norm=4, csphase=-1, sampling=1)
            return (cilm[0] + 1j * cilm[1]).T[np.tril_indices(self.b, 0, self.b)[::-1]]
        return soft.sht(f).reshape(-1)[self.index]

    def correlate_argmax(self, f_coefficients, h_coefficients):
        return np.argmax(self.soft.cross_correlation_ylm_real(f_coefficients, h_coefficients))


def full_correlation(peers, repeats):
    print("\n1. Full correlation of two real single-channel maps (ms, best of %d)" % repeats)
    rows = []
    for b in (16, 32, 64):
        rng = np.random.default_rng(b)
        f, h = rng.normal(size=(2, 2 * b, 2 * b))
        row = {
            "b": b,
            "soft float64": best_ms(lambda: np.argmax(soft.correlate(f, h, channel_axis=None)), repeats),
            "soft search (float32 grid)": best_ms(lambda: soft.align(f, h, channel_axis=None, refine=False), repeats),
            "soft align + refine": best_ms(lambda: soft.align(f, h, channel_axis=None), repeats),
            "soft S2 transform x2": best_ms(lambda: soft.sht(np.stack([f, h])), repeats),
        }
        if "pyshtools" in peers:
            sh = peers["pyshtools"]
            row["pyshtools S2 transform x2"] = best_ms(
                lambda: [sh.expand.SHExpandDH(x, norm=4, csphase=-1, sampling=1) for x in (f, h)], repeats)
        if "pysofft" in peers:
            route = PeerRoute(peers, b)
            fc, hc = route.coefficients(f), route.coefficients(h)
            row["pysofft correlation+argmax"] = best_ms(lambda: route.correlate_argmax(fc, hc), repeats)
            row["peer full route"] = best_ms(
                lambda: route.correlate_argmax(route.coefficients(f), route.coefficients(h)), repeats)
        rows.append(row)
    keys = list(dict.fromkeys(k for row in rows for k in row if k != "b"))
    print("| b | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for row in rows:
        print(f"| {row['b']} | " + " | ".join(f"{row[k]:.2f}" if k in row else "-" for k in keys) + " |")
    print("\nRatios (peer time / soft time; > 1 means soft is faster):")
    for row in rows:
        parts = []
        if "peer full route" in row:
            parts.append(f"full route / soft float64 = {row['peer full route'] / row['soft float64']:.2f}")
            parts.append(f"full route / soft search = {row['peer full route'] / row['soft search (float32 grid)']:.2f}")
        if "pyshtools S2 transform x2" in row:
            parts.append(f"S2 transform = {row['pyshtools S2 transform x2'] / row['soft S2 transform x2']:.2f}")
        print(f"  b = {row['b']}: " + ("; ".join(parts) or "no peer installed"))


def evaluation_workload(peers, pairs, peer_pairs):
    b, channels = 16, 64
    print(f"\n2. Evaluation workload: {pairs} pairs of {2 * b}x{2 * b}x{channels} embeddings (b = {b})")
    rng = np.random.default_rng(0)
    h = rng.random((pairs, channels, 2 * b, 2 * b))
    R = soft.euler_zyz_to_matrix(rng.uniform(0, 2 * np.pi, size=(pairs, 3)))
    f = soft.rotate(h[:8], R[:8, None])  # a few true pairs to check the answers
    f = np.concatenate([f, rng.random((pairs - 8, channels, 2 * b, 2 * b))])
    results = {}
    for name, kwargs in (("soft align, grid argmax", {"refine": False}), ("soft align + refine", {})):
        start = time.perf_counter()
        estimate = soft.align(f, h, **kwargs)
        seconds = time.perf_counter() - start
        results[name] = pairs / seconds
        error = np.degrees(soft.geodesic_angle(estimate[:8], R[:8])).max()
        print(f"  {name}: {seconds:.2f} s, {pairs / seconds:.0f} pairs/s (max error on the 8 exact pairs: {error:.3g} deg)")
    if "pysofft" in peers:
        route = PeerRoute(peers, b)
        start = time.perf_counter()
        for i in range(peer_pairs):
            grid = sum(route.soft.cross_correlation_ylm_real(route.coefficients(f[i, c]), route.coefficients(h[i, c]))
                       for c in range(channels))
            np.argmax(grid)
        seconds = time.perf_counter() - start
        peer_rate = peer_pairs / seconds
        print(f"  peer per-channel route (pyshtools + pysofft, {peer_pairs} pairs timed): {peer_rate:.0f} pairs/s")
        for name, rate in results.items():
            print(f"  ratio {name} / peer: {rate / peer_rate:.1f}x")


def setup_and_memory():
    print("\n3. Set-up and memory at b = 64")
    for cached in (wigner_module._delta, sht_module.legendre_table, sht_module._analysis_tables,
                   sht_module._synthesis_tables, sht_module._real_dft, correlate_module._layout,
                   correlate_module._beta_weights):
        cached.cache_clear()
    rng = np.random.default_rng(1)
    f, h = rng.normal(size=(2, 128, 128))
    tracemalloc.start()
    start = time.perf_counter()
    soft.correlate(f, h, channel_axis=None)
    first = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    again = best_ms(lambda: soft.correlate(f, h, channel_axis=None), 3) / 1e3
    print(f"  first correlation (tables built): {first * 1e3:.0f} ms; later calls: {again * 1e3:.0f} ms; "
          f"set-up about {(first - again) * 1e3:.0f} ms")
    print(f"  peak traced memory of the first call: {peak / 2**20:.0f} MiB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats (best is reported)")
    parser.add_argument("--pairs", type=int, default=256, help="pairs in the evaluation workload")
    parser.add_argument("--peer-pairs", type=int, default=8, help="pairs timed on the slower peer route")
    args = parser.parse_args(argv)
    peers, missing = load_peers()
    print("peers installed: " + (", ".join(f"{k} {getattr(v, '__version__', '')}".strip() for k, v in peers.items()) or "none"))
    for name, why in missing.items():
        print(f"peer not available: {name} ({why})")
    setup_and_memory()
    full_correlation(peers, args.repeats)
    evaluation_workload(peers, args.pairs, args.peer_pairs)


if __name__ == "__main__":
    main()
