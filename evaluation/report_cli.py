"""The command line shared by the reports on a run (teacher, embedding, symmetry)."""
import argparse


def run_report(doc, report, argv=None, options=()):
    """Parse --run, --data and `options` ((flags, add_argument kwargs) pairs), then return
    report(run, data_dir, **those options) and the parsed arguments; a ValueError from the
    report exits with status 2 and its message."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/quick")
    parser.add_argument("--data", help="dataset folder (default <run>/data)")
    for flags, kwargs in options:
        parser.add_argument(*flags, **kwargs)
    args = parser.parse_args(argv)
    extra = {k: v for k, v in vars(args).items() if k not in ("run", "data")}
    try:
        return report(args.run, args.data, **extra), args
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
