"""The `tradeoff` CLI end to end: run, show, export, list, hardware, failures."""

import csv
import io
import json
import subprocess
import tomllib

import pytest

from engine import cli, registry
from engine.params import Param
from engine.registry import Algorithm
from engine.store import Store
from tests.helpers import EXAMPLES, ROOT, engine_command, run_engine, run_examples, write_spec

SMALL = """
[run]
name = "small"
seeds = 3
steps = 300
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.8]
[hardware]
device = "cpu"
"""


def test_run_json_show_and_export(tmp_path):
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "small.toml", SMALL)
    result = run_engine("run", spec, "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["run_id"] == 1 and out["status"] == "finished"
    assert result.stderr.startswith("run 1 started: small (3 seeds x 300 steps, cpu)")

    shown = json.loads(run_engine("show", "1", "--db", db, "--json").stdout)
    assert shown["status"] == "finished" and shown["steps_done"] == 300
    assert shown["hardware"]["device"] == "cpu"
    assert shown["spec"]["problem"]["means"] == [0.2, 0.8]
    assert shown["summary"]["cumulative_regret"]["step"] == 300

    text = run_engine("export", "1", "--db", db, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["step", "metric", "seed", "value"]
    regret = [r for r in rows if r["metric"] == "cumulative_regret" and r["step"] == "300"]
    assert sorted(r["seed"] for r in regret) == ["0", "1", "2"]  # one row per seed
    bound = [r for r in rows if r["metric"] == "regret_upper_bound"]
    assert bound and all(r["seed"] == "" for r in bound)  # bounds belong to no seed

    store = Store(db)
    stored = store.series(1, "cumulative_regret")
    assert sorted(stored) == [0, 1, 2]
    for r in regret:
        assert float(r["value"]) == stored[int(r["seed"])][1][-1]

    out_file = tmp_path / "run1.json"
    assert (
        run_engine("export", "1", "--db", db, "--format", "json", "--out", out_file).returncode == 0
    )
    doc = json.loads(out_file.read_text())
    assert doc["run_id"] == 1 and len(doc["series"]) == len(rows) and doc["pareto"] == []

    text = run_engine("show", "1", "--db", db).stdout
    assert (
        "run 1: finished" in text and "means = [0.2, 0.8]" in text and "cumulative_regret" in text
    )


def test_list_json_has_the_declared_fields():
    result = run_engine("list", "--json")
    entries = json.loads(result.stdout)
    ucb = next(e for e in entries if e["id"] == "bandits.ucb1")
    assert ucb["kind"] == "algorithm" and ucb["family"] == "bandits"
    assert ucb["paper"] == "Finite-time Analysis of the Multiarmed Bandit Problem"
    c = next(p for p in ucb["params"] if p["name"] == "c")
    assert c == {
        "name": "c",
        "type": "float",
        "default": 2.0,
        "low": 0.0,
        "high": 100.0,
        "help": c["help"],
    }
    assert all({"name", "type", "default", "help"} <= set(p) for p in ucb["params"])
    assert any(e["kind"] == "problem" and e["id"] == "bandits.bernoulli" for e in entries)
    for e in entries:
        assert {"id", "kind", "family", "paper", "params"} <= set(e)


def test_cuda_is_refused_before_anything_starts(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "gpu.toml", SMALL.replace('"cpu"', '"cuda"'))
    result = run_engine("run", spec, "--db", db)
    assert result.returncode == 2
    assert "hardware.device" in result.stderr and "CUDA is not available" in result.stderr
    assert "available: cpu" in result.stderr
    assert not db.exists()


def test_hardware_reports_cpu_and_memory():
    info = json.loads(run_engine("hardware", "--json").stdout)
    assert info["cpu_cores"] >= 1 and info["memory_bytes"] > 0 and isinstance(info["cuda"], list)


def test_resolve_devices():
    from engine.hardware import HardwareError, resolve

    gpu = [{"index": 0, "name": "Fake GPU", "memory_bytes": 1}]
    assert resolve("auto", []) == "cpu" and resolve("auto", gpu) == "cuda:0"
    assert resolve("cuda", gpu) == "cuda:0" and resolve("cpu", gpu) == "cpu"
    with pytest.raises(
        HardwareError, match=r"'cuda:1' does not exist; available: cpu, cuda:0 \(Fake GPU\)"
    ):
        resolve("cuda:1", gpu)


@pytest.fixture
def exploding_algorithm(monkeypatch):
    """An algorithm that raises in its tenth step, registered for this test only."""

    class Exploding(Algorithm):
        id = "bandits.exploding_for_test"
        family = "bandits"
        paper = "none"
        problems = ("bandits.bernoulli",)
        plot = "regret"
        params = (Param("at", "int", 10, "step that raises", low=1),)

        def run(self, steps, rec):
            for t in range(1, steps + 1):
                rec.metrics(t, {"cumulative_regret": [float(t)] * self.seeds})
                rec.progress(t)
                if t == self.p["at"]:
                    raise FloatingPointError("diverged on purpose")

    yield Exploding
    monkeypatch.delitem(registry._ALGORITHMS, Exploding.id)


def test_an_exception_marks_the_run_failed_with_its_traceback(
    tmp_path, exploding_algorithm, capsys
):
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "x.toml", SMALL.replace("bandits.ucb1", exploding_algorithm.id))
    code = cli.main(["run", str(spec), "--db", str(db), "--json", "--quiet"])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed" and out["error"] == "FloatingPointError: diverged on purpose"
    store = Store(db)
    run = store.get_run(out["run_id"])
    assert (
        run["status"] == "failed"
        and "Traceback" in run["error"]
        and "diverged on purpose" in run["error"]
    )
    assert store.integrity_check() == "ok"
    steps = store.series(run["id"], "cumulative_regret")[0][0]
    assert steps.tolist() == list(range(1, 11))  # records before the failure were flushed


@pytest.mark.parametrize("name", [p.name for p in run_examples()])
def test_every_example_runs_and_exports(tmp_path, name, capsys, monkeypatch):
    """In this process (the CLI's own entry point, without a new torch import per example);
    test_run_json_show_and_export covers the separate process."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # tiny tensors: one thread is fastest, and the spec may not change it here
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    db = str(tmp_path / "s.db")
    code = cli.main(
        [
            "run",
            str(EXAMPLES / name),
            "--db",
            db,
            "--json",
            "--quiet",
            "--set",
            "run.seeds=2",
            "--set",
            "run.steps=200",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "finished", out
    assert cli.main(["export", "1", "--db", db, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["series"]
    if doc["objectives"]:
        assert doc["pareto"] and all(n in doc["pareto"][0] for n in doc["objectives"]["names"])
        assert cli.main(["export", "1", "--db", db, "--table", "pareto"]) == 0
        header = capsys.readouterr().out.splitlines()[0].split(",")
        assert header[:3] == ["step", "seed", "point"] and doc["objectives"]["names"][0] in header
    monkeypatch.undo()
    torch.set_num_threads(threads)


def test_unknown_run_is_a_clear_error(tmp_path):
    result = run_engine("show", "42", "--db", tmp_path / "s.db")
    assert result.returncode == 2 and "no run 42" in result.stderr


def test_tag_note_and_delete_through_the_command_line(tmp_path, capsys):
    """`tradeoff tag/note/delete` change the store; bad input is refused with exit code 2."""
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "small.toml", SMALL)
    for _ in range(2):
        assert cli.main(["run", str(spec), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert (
        cli.main(["tag", "1", "--add", "baseline", "--add", "paper", "--db", str(db), "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == {"run_id": 1, "tags": ["baseline", "paper"]}
    assert cli.main(["tag", "1", "--remove", "paper", "--db", str(db)]) == 0
    assert "run 1 tags: baseline" in capsys.readouterr().out
    assert cli.main(["note", "1", "--db", str(db), "--", "-0.5 looks wrong; rerun with c=1"]) == 0
    shown = json.loads(run_engine("show", "1", "--db", db, "--json").stdout)
    assert shown["tags"] == ["baseline"] and shown["notes"] == "-0.5 looks wrong; rerun with c=1"
    listed = json.loads(run_engine("runs", "--db", db, "--json").stdout)
    assert [(r["id"], r["tags"]) for r in listed] == [(1, ["baseline"]), (2, [])]

    assert cli.main(["tag", "1", "--db", str(db)]) == 2
    assert "give at least one --add" in capsys.readouterr().err
    assert cli.main(["tag", "1", "--add", "a,b", "--db", str(db)]) == 2
    assert "must not contain a comma" in capsys.readouterr().err
    assert cli.main(["delete", "1", "--db", str(db)]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert cli.main(["delete", "2", "7", "--yes", "--db", str(db)]) == 2
    assert "no run 7" in capsys.readouterr().err

    result = run_engine("delete", "2", "--yes", "--db", db)
    assert result.returncode == 0 and "deleted run 2" in result.stderr
    store = Store(db)
    assert [r["id"] for r in store.list_runs()] == [1]
    assert (
        store.conn.execute("SELECT count(*) FROM series_blocks WHERE run_id=2").fetchone()[0] == 0
    )
    assert store.series(1, "cumulative_regret")  # run 1 keeps its records


def test_run_dash_reads_the_spec_from_standard_input(tmp_path):
    db = tmp_path / "s.db"
    result = subprocess.run(
        engine_command("run", "-", "--db", db, "--json", "--quiet"),
        input=SMALL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "finished"
    with Store(db) as store:
        run = store.get_run(1)
        assert (run["name"], run["seeds"], run["steps_done"]) == ("small", 3, 300)


def test_a_bad_spec_on_standard_input_is_named_stdin(tmp_path, capsys, monkeypatch):
    db = tmp_path / "s.db"
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(io.BytesIO(SMALL.replace("seeds = 3", "seeds = 0").encode()))
    )
    assert cli.main(["run", "-", "--db", str(db)]) == 2
    assert capsys.readouterr().err == "error: <stdin>: run.seeds: must be >= 1, got 0\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'[run]\nname = "\xff"\n')))
    assert cli.main(["run", "-", "--db", str(db)]) == 2
    assert (
        capsys.readouterr().err
        == "error: <stdin>: cannot be read: not UTF-8 text (invalid start byte at byte offset 14)\n"
    )
    assert not db.exists()


def test_version_is_the_distributions(capsys):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"tradeoff {version}\n"
