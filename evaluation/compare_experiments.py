"""Compare two alignment experiments on the same pairs: each statistic of B minus that of A,
with a paired bootstrap interval over the test instances.

    python -m evaluation.compare_experiments runs/quick/eval/pairs_base.json runs/long/eval/pairs_base.json

Both files are run_alignment_experiment's pairs_<name>.json. Results are compared for every
mode/kind (pred/same, ...) both files hold, or those given with --keys; their pairs must be
the same (same test split and protocol), else it stops with an error naming the first that
differs. Pairs that share their first image (an instance's pose 0) are redrawn together
(evaluation.alignment.difference_intervals). Paired intervals are tighter than the two
experiments' own intervals side by side, since what the test objects share cancels.
"""
import argparse
import json
import sys

import numpy as np

from evaluation import alignment

UNITS = {"median": ("median deg", 1.0), "mean": ("mean deg", 1.0), "acc15": ("acc@15 %", 100.0),
         "acc30": ("acc@30 %", 100.0)}


def load_pairs(path):
    """The {"mode/kind": raw results} of a pairs_<name>.json file, checked."""
    try:
        with open(path) as f:
            results = json.load(f)["results"]
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path}: not a pairs_<name>.json file of run_alignment_experiment") from None
    for key, raw in results.items():
        missing = {"first", "second", "truth", "error_deg"} - set(raw)
        if missing:
            raise ValueError(f"{path}: results {key} lack {sorted(missing)}")
    return results


def compare(results_a, results_b, keys=None, draws=alignment.BOOTSTRAP_DRAWS):
    """Rows {key, statistic, a, b, difference, interval} for each shared mode/kind and statistic."""
    keys = keys or [k for k in results_a if k in results_b]
    if not keys:
        raise ValueError(f"no results in common: A has {sorted(results_a)}, B has {sorted(results_b)}")
    rows = []
    for key in keys:
        if key not in results_a or key not in results_b:
            raise ValueError(f"results {key} are not in both files (A: {sorted(results_a)}, B: {sorted(results_b)})")
        a, b = results_a[key], results_b[key]
        same = (np.array_equal(a["first"], b["first"]) and np.array_equal(a["second"], b["second"])
                and np.allclose(a["truth"], b["truth"], atol=1e-9))
        if not same:
            raise ValueError(f"results {key}: the two experiments were run on different pairs")
        summary_a, summary_b = alignment.summary(a["error_deg"]), alignment.summary(b["error_deg"])
        intervals = alignment.difference_intervals(a["error_deg"], b["error_deg"], a["first"], draws=draws)
        rows += [{"key": key, "statistic": s, "a": summary_a[s], "b": summary_b[s],
                  "difference": summary_b[s] - summary_a[s], "interval": intervals[s]}
                 for s in alignment.STATISTICS]
    return rows


def format_comparison(rows):
    """The Markdown table of compare's rows, as lines."""
    lines = ["| results | statistic | A | B | B - A | 95 % interval of B - A | excludes 0 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        label, scale = UNITS[r["statistic"]]
        # rounded as shown (and -0.00 made 0.00): rounding noise of equal errors decides nothing
        difference, low, high = (round(scale * v, 2) + 0.0 for v in (r["difference"], *r["interval"]))
        lines.append(f"| {r['key']} | {label} | {scale * r['a']:.2f} | {scale * r['b']:.2f} | "
                     f"{difference:+.2f} | {low:+.2f} to {high:+.2f} | {'yes' if low > 0 or high < 0 else 'no'} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="pairs_<name>.json of experiment A")
    parser.add_argument("b", help="pairs_<name>.json of experiment B")
    parser.add_argument("--keys", help="comma list of mode/kind to compare, e.g. pred/same (default: all shared)")
    args = parser.parse_args(argv)
    try:
        rows = compare(load_pairs(args.a), load_pairs(args.b), [k for k in (args.keys or "").split(",") if k])
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print(f"A: {args.a}\nB: {args.b}")
    print("\n".join(format_comparison(rows)))
    print(f"95 % intervals: paired bootstrap over the test instances, {alignment.BOOTSTRAP_DRAWS:,} draws; "
          "'excludes 0': B differs from A by more than these test objects can vouch for")


if __name__ == "__main__":
    sys.exit(main())
