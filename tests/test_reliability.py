"""Reliability: a corrupted shard is named, a missing or mismatched SavedModel names its path
and what was expected, and a demo killed mid-training finishes on re-run without redoing
finished stages."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from evaluation import demo, novel_views
from training import reader, train_embedding, train_synthesis

from conftest import TINY_DATA, TINY_EMBEDDING, TINY_SYNTHESIS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def data_copy(tiny_run, tmp_path):
    shutil.copytree(tiny_run / "data", tmp_path / "data")
    return tmp_path / "data"


def test_corrupted_shard_is_named(data_copy):
    shard = data_copy / reader.load_manifest(str(data_copy))["splits"]["train"]["shards"][1]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=re.escape(str(shard)) + ": corrupted TFRecord shard"):
        reader.read(str(data_copy), "train", 4)
    with pytest.raises(ValueError, match=re.escape(str(shard))):
        train_embedding.split_datasets(str(data_copy), lambda s: s, TINY_EMBEDDING, 4)


def test_dataset_of_an_older_format_is_refused(data_copy):
    """Format 1 renders had an off-axis light, under which in-plane turns are not exact."""
    from training import dataset
    path = data_copy / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": 1}))
    with pytest.raises(ValueError, match=re.escape(str(data_copy)) + " is dataset format 1.*rebuild"):
        reader.read(str(data_copy), "train", 4)
    config = json.loads((data_copy / "config.json").read_text())
    assert config["format_version"] == dataset.FORMAT_VERSION  # an unfinished old build is refused too
    (data_copy / "config.json").write_text(json.dumps({**config, "format_version": 1}))
    with pytest.raises(ValueError, match="another config"):
        dataset.build(TINY_DATA, data_copy, progress=False)


def test_truncated_or_missing_shard_is_named(data_copy):
    shard = data_copy / reader.load_manifest(str(data_copy))["splits"]["test"]["shards"][0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    with pytest.raises(ValueError, match=re.escape(str(shard))):
        reader.as_numpy(str(data_copy), "test")
    shard.unlink()
    with pytest.raises(ValueError, match=re.escape(str(shard)) + ": missing shard"):
        reader.read(str(data_copy), "test", 4)


def test_missing_or_mismatched_savedmodel_names_path(tiny_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(tiny_run / "data", run / "data")
    with pytest.raises(ValueError, match=re.escape(f"no SavedModel at {str(run / 'teacher')!r}: expected an exported "
                                                   "teacher")):
        train_embedding.train(TINY_EMBEDDING, str(run / "data"), str(run), verbose=0)
    export, _ = train_embedding.train(TINY_EMBEDDING, str(tiny_run / "data"), str(tiny_run), verbose=0)
    shutil.copytree(export, run / "teacher")  # an embedding model where the teacher should be
    with pytest.raises(ValueError, match=re.escape(f"{str(run / 'teacher')!r} is a SavedModel but not an exported "
                                                   "teacher")):
        train_embedding.train(TINY_EMBEDDING, str(run / "data"), str(run), verbose=0)
    with pytest.raises(ValueError, match=re.escape(str(run / "synthesis")) + ".*expected an exported synthesis"):
        novel_views.run(str(run))
    # a synthesiser made for other embeddings: the mismatch names the path and both shapes
    synthesis, _ = train_synthesis.train(TINY_SYNTHESIS, str(tiny_run / "data"), str(tiny_run), verbose=0)
    shutil.copytree(synthesis, run / "synthesis")
    meta = json.loads((run / "synthesis" / "synthesis.json").read_text())
    (run / "synthesis" / "synthesis.json").write_text(json.dumps({**meta, "embedding_shape": [32, 32, 6]}))
    shutil.rmtree(run / "teacher")
    os.symlink(tiny_run / "teacher", run / "teacher")
    os.symlink(tiny_run / "embedding", run / "embedding")
    with pytest.raises(ValueError, match=re.escape(str(run / "synthesis")) + r" expects \(32, 32, 6\)"):
        novel_views.run(str(run), modes=("target",))


def _demo(run, *extra):
    return [sys.executable, "-m", "evaluation.demo", "--config", "tiny", "--run", str(run),
            "--set", "embedding.epochs=40", *extra]


def test_killed_demo_resumes_without_redoing_finished_stages(tmp_path):
    run = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen(_demo(run), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
    backup = run / "embedding_work" / "backup"
    deadline = time.time() + 300
    while not backup.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # a few more epochs
    assert first.poll() is None, "the demo finished before it could be killed: " + first.stdout.read()[-2000:]
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (run / "embedding").exists()
    teacher_pb = run / "teacher" / "saved_model.pb"
    teacher_mtime = teacher_pb.stat().st_mtime
    second = subprocess.run(_demo(run), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    out = second.stdout
    assert "data: done earlier" in out and "teacher: done earlier" in out
    epochs = [int(e) for e in re.findall(r"Epoch (\d+)/40", out)]
    assert epochs and epochs[0] > 1 and epochs[-1] == 40  # resumed mid-training, finished
    assert teacher_pb.stat().st_mtime == teacher_mtime
    assert "== per-stage times ==" in out and "| demo | target | same |" in out and "| copy input |" in out
    assert "95 % intervals" in out and "  target/same: median " in out
    state = json.loads((run / "demo_state.json").read_text())
    assert sorted(state["stages"]) == sorted(demo.ORDER)
    assert out.index("teacher  ") < out.index("embedding  ") < out.index("novel views  ")
    assert all(np.isfinite(s["seconds"]) for s in state["stages"].values())
    third = subprocess.run(_demo(run), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0 and third.stdout.count("done earlier") == 6
