"""The whole pipeline in one command (make demo): python -m evaluation.demo [--config quick] [--run runs/quick]

Stages: data -> teacher (TF-Hub export) -> embedding (SavedModel) -> alignment experiment
(table and plots) -> synthesis (SavedModel) -> novel views (table and figure). Each
finished stage is recorded in <run>/demo_state.json with its time; a re-run skips it.
An interrupted stage resumes where it stopped (dataset shards are atomic, trainers use
BackupAndRestore). Prints per-stage times and a final summary: the alignment table, the
novel-view table and where every artefact is.
"""
import argparse
import json
import os
import sys
import time

from training import config as configs
from training import dataset, train_embedding, train_synthesis, train_teacher
from training.dataset import write_json_atomic

from . import novel_views, run_alignment_experiment

STATE = "demo_state.json"
ORDER = ("data", "teacher", "embedding", "alignment", "synthesis", "novel views")


def stages(config_name, overrides, run):
    """(name, what it makes, fn() -> JSON-able summary) in ORDER."""
    section = lambda name: configs.load(config_name, name, overrides.get(name, ()))  # noqa: E731
    data = os.path.join(run, "data")

    def build_data():
        manifest = dataset.build(section("data"), data)
        return {s: v["samples"] for s, v in manifest["splits"].items()}

    def alignment():
        rows, _ = run_alignment_experiment.run_experiment(run, "demo", ("pred", "target", "chance"))
        return {"rows": rows}

    return [
        ("data", data, build_data),
        ("teacher", os.path.join(run, "teacher"),
         lambda: _trained(train_teacher.train(section("teacher"), data, run))),
        ("embedding", os.path.join(run, "embedding"),
         lambda: _trained(train_embedding.train(section("embedding"), data, run))),
        ("alignment", os.path.join(run, "eval"), alignment),
        ("synthesis", os.path.join(run, "synthesis"),
         lambda: _trained(train_synthesis.train(section("synthesis"), data, run))),
        ("novel views", os.path.join(run, "novel_views"), lambda: {"rows": novel_views.run(run)}),
    ]


def _trained(result):
    export, history = result
    return {"export": export, "final_loss": history["loss"][-1] if history else None}


def _load_state(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def run_demo(config_name="quick", run=None, overrides=None):
    """Run (or finish) every stage; returns the state: {"config": name, "stages": {stage:
    {"seconds", "summary", "path"}}}, also saved as <run>/demo_state.json."""
    run = run or os.path.join("runs", config_name)
    os.makedirs(run, exist_ok=True)
    state_path = os.path.join(run, STATE)
    state = _load_state(state_path)
    if state.get("config") not in (None, config_name):
        raise ValueError(f"{run} holds a demo of config {state['config']!r}, not {config_name!r}: "
                         "use another --run folder")
    state["config"] = config_name
    done = state.setdefault("stages", {})
    plan = stages(config_name, overrides or {}, run)
    for number, (name, where, fn) in enumerate(plan, 1):
        header = f"[{number}/{len(plan)}] {name}"
        if name in done and os.path.exists(where):
            print(f"{header}: done earlier in {done[name]['seconds']:.0f} s, skipped ({where})", flush=True)
            continue
        print(f"{header} -> {where}", flush=True)
        start = time.time()
        result = fn()
        done[name] = {"seconds": time.time() - start, "summary": result, "path": where}
        write_json_atomic(state_path, state)
        print(f"{header}: finished in {done[name]['seconds']:.0f} s", flush=True)
    return state


def summary(state, run):
    stages_ = state["stages"]
    lines = ["", "== per-stage times =="]
    lines += [f"{name:12s} {stages_[name]['seconds']:7.0f} s   {stages_[name]['path']}" for name in ORDER]
    lines += [f"{'total':12s} {sum(s['seconds'] for s in stages_.values()):7.0f} s", "",
              "== relative pose (same-instance pairs: pose 0 vs the others) =="]
    rows = stages_["alignment"]["summary"]["rows"]
    lines += run_alignment_experiment.format_table(rows)
    if all("intervals" in r for r in rows):  # states saved before the intervals have none
        lines += run_alignment_experiment.printed_intervals(rows)
    lines += ["", "== novel views =="]
    lines += novel_views.format_table(stages_["novel views"]["summary"]["rows"])
    lines += ["", "== artefacts ==",
              f"dataset (TFRecord shards, manifest.json)  {os.path.join(run, 'data')}",
              f"teacher (TF-Hub SavedModel)               {os.path.join(run, 'teacher')}",
              f"image embedding model (SavedModel)        {os.path.join(run, 'embedding')}",
              f"synthesis model (SavedModel)              {os.path.join(run, 'synthesis')}",
              f"alignment tables, raw pairs, plots        {os.path.join(run, 'eval')} (results.md, pairs_demo.json, "
              "cdf_demo.png, examples_demo.png)",
              f"novel views table, scores, figure         {os.path.join(run, 'novel_views')}",
              f"TensorBoard logs                          {os.path.join(run, '*_work', 'logs')}"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quick", help=f"preset: {', '.join(sorted(configs.PRESETS))}")
    parser.add_argument("--run", help="run folder (default runs/<config>)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a config field of one stage, e.g. embedding.epochs=20 (repeatable)")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        section, dot, rest = item.partition(".")
        if not dot or section not in configs.PRESETS["quick"]:
            parser.exit(2, f"error: --set needs SECTION.FIELD=VALUE with SECTION one of "
                           f"{sorted(configs.PRESETS['quick'])}, got {item!r}\n")
        overrides.setdefault(section, []).append(rest)
    run = args.run or os.path.join("runs", args.config)
    try:
        state = run_demo(args.config, run, overrides)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print(summary(state, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
