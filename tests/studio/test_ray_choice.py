"""Where sweeps run: local workers, or a Ray cluster checked with `tradeoff ray-status`.

The engine is a recorded stand-in (a script that writes its arguments down and answers as
`tradeoff ray-status --json` did, or refuses as it does): no Ray is needed here. The real
command is tested in tests/engine/test_ray_status.py."""

from __future__ import annotations

import json
import sys

import pytest
from PySide6.QtCore import Qt

from studio.configure.config_panel import ConfigPanel
from studio.configure.hardware_panel import HardwarePanel, cluster_summary
from studio.configure.param_form import ERROR_LABEL_STYLE
from studio.queue import engine_command, run_process
from studio.sweeps.launch import SweepLauncher, backend_args

# An answer of `tradeoff ray-status --json` (a two-node cluster, one node with a GPU).
CLUSTER = {
    "address": "10.0.0.5:6379",
    "nodes": 2,
    "cpus": 24,
    "gpus": 1,
    "ray_version": "2.60.0",
    "per_node": [
        {"node_id": "a" * 56, "host": "head", "alive": True, "cpus": 16, "gpus": 1},
        {"node_id": "b" * 56, "host": "w1", "alive": True, "cpus": 8, "gpus": 0},
    ],
}
REFUSAL = "error: cannot reach a Ray cluster at 10.0.0.9:6379: [Errno 111] Connection refused\n"

ENGINE = """
import json, sys
from pathlib import Path
log, out, err, code = sys.argv[1:5]
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[5:]) + "\\n")
sys.stdout.write(Path(out).read_text())
sys.stderr.write(Path(err).read_text())
sys.exit(int(code))
"""


class RecordedEngine:
    """`python -m engine ARGS` replaced by a script that logs ARGS and gives a set answer."""

    def __init__(self, folder, monkeypatch, module):
        self.folder = folder
        self.script = folder / "engine.py"
        self.script.write_text(ENGINE, encoding="utf-8")
        self.log = folder / "calls.jsonl"
        self.answer(0, json.dumps(CLUSTER) + "\n")
        monkeypatch.setattr(
            module,
            "engine_argv",
            lambda *args: [
                sys.executable,
                str(self.script),
                str(self.log),
                str(folder / "out"),
                str(folder / "err"),
                (folder / "code").read_text(),
                *args,
            ],
        )

    def answer(self, code: int, out: str = "", err: str = "") -> None:
        (self.folder / "out").write_text(out, encoding="utf-8")
        (self.folder / "err").write_text(err, encoding="utf-8")
        (self.folder / "code").write_text(str(code), encoding="utf-8")

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def engine(tmp_path, monkeypatch):
    folder = tmp_path / "engine"
    folder.mkdir()
    return RecordedEngine(folder, monkeypatch, engine_command)


@pytest.fixture
def panel(qtbot):
    widget = HardwarePanel()
    qtbot.addWidget(widget)
    return widget


def connect(qtbot, panel, address: str) -> None:
    panel.ray_choice.setChecked(True)
    panel.ray_address.setText(address)
    qtbot.mouseClick(panel.ray_connect, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.ray_checking(), timeout=20_000)


def test_local_workers_is_the_default_and_sends_sweeps_to_the_local_pool(panel):
    assert panel.local_choice.isChecked() and panel.backend() == "local"
    assert not panel.ray_address.isEnabled() and not panel.ray_connect.isEnabled()
    assert panel.backend_error() is None
    assert panel.sweep_backend() == (None, None)


def test_summary_counts_nodes_cpus_and_gpus():
    assert cluster_summary(CLUSTER) == "2 nodes · 24 CPUs · 1 GPU"
    one = {**CLUSTER, "nodes": 1, "cpus": 1, "gpus": 0}
    assert cluster_summary(one) == "1 node · 1 CPU · 0 GPUs"
    assert cluster_summary({**CLUSTER, "cpus": 2.5}) == "2 nodes · 2.5 CPUs · 1 GPU"


def test_a_reachable_cluster_shows_its_resources_and_lets_sweeps_go_there(qtbot, panel, engine):
    seen = []
    panel.backend_changed.connect(lambda: seen.append(panel.backend_error()))
    panel.ray_choice.setChecked(True)
    assert panel.ray_address.isEnabled() and panel.ray_connect.isEnabled()
    assert panel.backend_error() == (
        "Ray cluster: enter the address of its head (HOST:PORT), then Connect."
    )
    connect(qtbot, panel, " 10.0.0.5:6379 ")
    assert engine.calls() == [["ray-status", "--address", "10.0.0.5:6379", "--json"]]
    assert (
        "<b>2 nodes · 24 CPUs · 1 GPU</b> at 10.0.0.5:6379 (Ray 2.60.0)" == panel.ray_state.text()
    )
    assert panel.ray_state.styleSheet() == ""
    assert panel.ray_cluster == CLUSTER
    assert panel.backend_error() is None
    assert panel.sweep_backend() == ("10.0.0.5:6379", None)
    assert seen[-1] is None  # the form hears of it


def test_an_unreachable_address_is_shown_in_red_and_refuses_sweeps(qtbot, panel, engine):
    engine.answer(2, err=REFUSAL)
    connect(qtbot, panel, "10.0.0.9:6379")
    expected = (
        "Ray cluster at 10.0.0.9:6379 not usable: cannot reach a Ray cluster at "
        "10.0.0.9:6379: [Errno 111] Connection refused"
    )
    assert panel.ray_state.text() == expected
    assert panel.ray_state.styleSheet() == ERROR_LABEL_STYLE
    assert panel.backend_error() == expected
    assert panel.sweep_backend() == (None, expected)


def test_an_answer_that_is_not_json_is_a_refusal_not_a_crash(qtbot, panel, engine):
    engine.answer(0, out="Ray is starting...\n")
    connect(qtbot, panel, "10.0.0.5:6379")
    assert panel.backend_error().startswith(
        "Ray cluster at 10.0.0.5:6379 not usable: the engine's answer was not understood"
    )


def test_editing_the_address_drops_the_check(qtbot, panel, engine):
    connect(qtbot, panel, "10.0.0.5:6379")
    assert panel.backend_error() is None
    panel.ray_address.setText("10.0.0.5:6380")
    assert panel.ray_cluster is None
    assert panel.backend_error() == (
        "Ray cluster: press Connect to check 10.0.0.5:6380 before running a sweep on it."
    )
    assert panel.ray_state.text() == "Not checked yet: Connect to see what the cluster has."
    # Back to the checked text: still a new check, the cluster may have gone meanwhile.
    panel.ray_address.setText("10.0.0.5:6379")
    assert panel.backend_error() is not None
    # A failed address, edited: the failure no longer applies either.
    engine.answer(2, err=REFUSAL)
    connect(qtbot, panel, "10.0.0.9:6379")
    panel.ray_address.setText("10.0.0.9:637")
    assert "not usable" not in panel.backend_error()


def test_an_edit_while_a_check_runs_ignores_its_late_answer(qtbot, panel, engine):
    panel.ray_choice.setChecked(True)
    panel.ray_address.setText("10.0.0.5:6379")
    panel.connect_ray()
    assert panel.ray_checking()
    assert panel.backend_error() == "Ray cluster: still checking 10.0.0.5:6379…"
    panel.ray_address.setText("10.0.0.5:6380")  # the check in flight is stopped
    assert not panel.ray_checking()
    qtbot.wait(300)
    assert panel.ray_cluster is None and panel.backend_error().startswith("Ray cluster: press")


def test_switching_back_to_local_workers_needs_no_cluster(qtbot, panel, engine):
    engine.answer(2, err=REFUSAL)
    connect(qtbot, panel, "10.0.0.9:6379")
    panel.local_choice.setChecked(True)
    assert panel.backend_error() is None and panel.sweep_backend() == (None, None)


# -- the form: Run refused until the cluster is checked, and for a single run -------------
@pytest.fixture
def form(qtbot, panel, engine_catalogue):
    config = ConfigPanel(panel)
    qtbot.addWidget(config)
    config.set_catalogue(engine_catalogue)
    config.select_algorithm("bandits.ucb1")
    panel.set_device("cpu")
    return config


def sweep_c(config) -> None:
    from studio.configure.sweep_editor import LIST

    field = config.forms()["algorithm"].fields["c"]
    field.set_sweeping(True)
    field.sweep_editor.set_mode(LIST)
    field.sweep_editor.list_edit.setText("0.5, 2")


def test_the_form_refuses_a_ray_sweep_until_its_cluster_is_checked(qtbot, form, panel, engine):
    sweep_c(form)
    assert form.is_valid()
    panel.ray_choice.setChecked(True)
    panel.ray_address.setText("10.0.0.5:6379")
    assert not form.is_valid()
    refusal = "Ray cluster: press Connect to check 10.0.0.5:6379 before running a sweep on it."
    assert form.backend_note.text() == refusal and not form.backend_note.isHidden()
    assert form.sweep_document() is None and form.spec_error.text() == refusal

    qtbot.mouseClick(panel.ray_connect, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.ray_checking(), timeout=20_000)
    assert form.is_valid() and form.backend_note.isHidden()
    assert "sweeps on the Ray cluster at 10.0.0.5:6379 (2 nodes · 24 CPUs · 1 GPU)" in (
        form.hardware_summary.text()
    )
    assert form.sweep_document()["sweep"] == {"grid": {"algorithm.c": [0.5, 2.0]}}


def test_the_form_refuses_a_single_run_on_ray(qtbot, form, panel, engine):
    connect(qtbot, panel, "10.0.0.5:6379")
    assert not form.is_valid()
    assert form.backend_note.text() == (
        "A Ray cluster runs sweeps; a single run runs on this machine: choose Local workers "
        "in the Hardware tab, or sweep a field."
    )
    assert form.build_spec() is not None  # saving the spec is not refused
    panel.local_choice.setChecked(True)
    assert form.is_valid() and form.backend_note.isHidden()


# -- the launcher: what the scheduler and resume are told --------------------------------
def test_backend_args_of_local_workers_and_of_ray():
    assert backend_args(3, None) == ["--workers", "3"]
    assert backend_args(0, None) == ["--workers", "1"]
    assert backend_args(3, "10.0.0.5:6379") == ["--backend", "ray", "--address", "10.0.0.5:6379"]


@pytest.fixture
def detached(tmp_path, monkeypatch):
    """The detached scheduler and resume commands, recorded (they answer nothing)."""
    folder = tmp_path / "detached"
    folder.mkdir()
    return RecordedEngine(folder, monkeypatch, run_process)


DOCUMENT = {
    "run": {"seeds": 2, "steps": 10},
    "algorithm": {"id": "bandits.ucb1", "c": 2.0},
    "problem": {"id": "bandits.bernoulli"},
    "hardware": {"device": "cpu", "threads": 1, "dtype": "float32"},
    "sweep": {"grid": {"algorithm.c": [0.5, 2.0]}},
}


def launched(qtbot, launcher, detached, workers=3):
    with qtbot.waitSignal(launcher.submitted, timeout=20_000) as blocker:
        path = launcher.launch(DOCUMENT, workers)
    assert blocker.args == [7, 2]
    qtbot.waitUntil(lambda: len(detached.calls()) == 1, timeout=20_000)
    return path, detached.calls()[0]


@pytest.mark.parametrize(
    "choice, expected",
    [
        ((None, None), ["--workers", "3"]),
        (("10.0.0.5:6379", None), ["--backend", "ray", "--address", "10.0.0.5:6379"]),
    ],
    ids=["local", "ray"],
)
def test_the_launcher_starts_the_scheduler_where_the_panel_says(
    qtbot, tmp_path, engine, detached, choice, expected
):
    engine.answer(0, out=json.dumps({"sweep_id": 7, "points": 2, "db": "x"}) + "\n")
    launcher = SweepLauncher(tmp_path / "s.db", backend=lambda: choice)
    path, scheduler = launched(qtbot, launcher, detached)
    db = str(tmp_path / "s.db")
    assert engine.calls() == [["submit", str(path), "--db", db, "--json"]]
    assert scheduler == ["scheduler", "--db", db, *expected]

    launcher.resume(7, 3)
    qtbot.waitUntil(lambda: len(detached.calls()) == 2, timeout=20_000)
    assert detached.calls()[1] == ["resume", "7", "--db", db, *expected]


def test_the_launcher_refuses_an_unchecked_ray_choice_before_anything_starts(
    qtbot, tmp_path, engine, detached
):
    refusal = "Ray cluster: press Connect to check 10.0.0.5:6379 before running a sweep on it."
    launcher = SweepLauncher(tmp_path / "s.db", backend=lambda: (None, refusal))
    with qtbot.waitSignal(launcher.failed, timeout=1000) as blocker:
        assert launcher.launch(DOCUMENT, 3) is None
    assert blocker.args == [refusal]
    with qtbot.waitSignal(launcher.failed, timeout=1000) as blocker:
        launcher.resume(7, 3)
    assert blocker.args == [f"sweep 7 not resumed: {refusal}"]
    qtbot.wait(200)
    assert engine.calls() == [] and detached.calls() == []


def test_the_window_launches_through_the_hardware_panels_choice(make_window, toy_catalogue):
    win = make_window(catalogue=toy_catalogue)
    assert win.studio_panels.launcher.backend == win.hardware_panel.sweep_backend


def test_a_sweep_sent_to_ray_stops_the_windows_idle_local_schedulers_first(
    make_window, toy_catalogue, monkeypatch
):
    """A local scheduler serving nothing (warmed ahead of a Run) would take the sweep's
    points: the window stops it before the sweep is queued, and only for Ray."""
    win = make_window(catalogue=toy_catalogue)
    order = []
    monkeypatch.setattr(win.queue, "stop_idle_schedulers", lambda: order.append("stop"))
    monkeypatch.setattr(win, "_sweep_runs", lambda: 2)
    monkeypatch.setattr(win.config, "sweep_document", lambda: {"sweep": {}})
    monkeypatch.setattr(
        win.studio_panels, "launch_sweep", lambda document, workers: order.append("launch")
    )
    win.hardware_panel.set_backend("ray", "127.0.0.1:6379")
    assert win.start_sweep()
    win.hardware_panel.set_backend("local")
    assert win.start_sweep()
    assert order == ["stop", "launch", "launch"]
