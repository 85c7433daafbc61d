"""Watch: the grid of run tiles never widens the window, tiles keep a readable size and
scroll, one tile can be shown alone; the welcome shows example text as written."""

import subprocess
import sys

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence

from studio.configure.examples import EXAMPLES_DIR, Example
from studio.views.watch_area import (
    MAX_TILES,
    TILE_MIN_HEIGHT,
    TILE_MIN_WIDTH,
    Welcome,
    grid_columns,
)

WIDTH, HEIGHT = 1680, 1000


def shown_as(text: str) -> str:
    """What Qt draws for a text whose "&" marks a mnemonic: "&&" is "&", "&x" is "x"."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "&" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def finished_runs(store, started_run, count, algorithm="toy.regret"):
    ids = [started_run(algorithm, seeds=1, steps=10) for _ in range(count)]
    for run_id in ids:
        store.finish_run(run_id, "finished")
    return ids


@pytest.fixture
def wide_window(make_window, toy_catalogue, qtbot):
    win = make_window(toy_catalogue)
    win.resize(WIDTH, HEIGHT)
    qtbot.waitUntil(lambda: win.width() == WIDTH)
    return win


def settle(qtbot):
    qtbot.wait(50)  # layout requests are handled by the event loop


def test_the_columns_are_as_many_as_fit_and_no_more_than_a_square_needs():
    # (width + 6) // (460 + 6): 1000 px hold 2 columns, 900 px only 1.
    assert grid_columns(1, 2000, 460) == 1
    assert grid_columns(4, 1000, 460) == 2
    assert grid_columns(4, 900, 460) == 1
    assert grid_columns(4, 1500, 460) == 2  # 3 would fit, but 2 x 2 beats 3 + 1
    assert grid_columns(8, 1500, 460) == 3
    assert grid_columns(3, 1000, 958) == 1  # a tile that needs 958 px has a column of its own


def test_a_three_objective_run_never_widens_the_window(
    qtbot, wide_window, store, started_run, tmp_path
):
    """A real three-objective Pareto run (its view wants ~950 px) beside three others: the
    window stays 1680 px wide and every tile keeps its room; the area scrolls instead."""
    spec = (EXAMPLES_DIR / "pareto-three-task.toml").read_text(encoding="utf-8")
    spec = spec.replace("steps = 500", "steps = 20").replace("seeds = 4", "seeds = 1")
    spec = spec.replace('device = "auto"', 'device = "cpu"')
    (tmp_path / "three.toml").write_text(spec, encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "run",
            str(tmp_path / "three.toml"),
            "--db",
            str(store.path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pareto_id = store.list_runs()[0]["id"]
    assert store.get_run(pareto_id)["plot"] == "pareto"
    win = wide_window
    ids = [pareto_id, *finished_runs(store, started_run, 3)]
    for run_id in ids:
        assert win.show_run(run_id)
        settle(qtbot)
        assert win.width() == WIDTH
    pareto_tile = win.watch.tile(pareto_id)
    qtbot.waitUntil(lambda: len(pareto_tile.plot.view.projections) == 3)
    settle(qtbot)
    assert win.width() == WIDTH
    # The three projections keep the width they need: one column, the area scrolls down.
    assert pareto_tile.width() >= pareto_tile.minimumSizeHint().width() > TILE_MIN_WIDTH
    assert win.watch.columns == 1
    for tile in win.watch.tiles:
        assert tile.width() >= TILE_MIN_WIDTH and tile.height() >= TILE_MIN_HEIGHT
    assert win.watch.grid_scroll.verticalScrollBar().maximum() > 0


@pytest.mark.parametrize("count", [4, 8])
def test_tiles_keep_a_readable_size_with_many_runs(qtbot, wide_window, store, started_run, count):
    win = wide_window
    for run_id in finished_runs(store, started_run, count):
        win.show_run(run_id)
        settle(qtbot)
        assert win.width() == WIDTH
    assert len(win.watch.tiles) == count <= MAX_TILES
    sizes = [(t.width(), t.height()) for t in win.watch.tiles]
    assert (
        min(w for w, _ in sizes) >= TILE_MIN_WIDTH and min(h for _, h in sizes) >= TILE_MIN_HEIGHT
    )
    # Two columns in the ~1000 px the window leaves to Watch; every tile on screen or a scroll away.
    assert win.watch.columns == 2
    assert len({t.x() for t in win.watch.tiles}) == 2
    rows = count // 2
    holder = win.watch.grid_holder
    assert holder.height() >= rows * TILE_MIN_HEIGHT


def test_one_tile_alone_and_back(qtbot, wide_window, store, started_run):
    win = wide_window
    ids = finished_runs(store, started_run, 4)
    for run_id in ids:
        win.show_run(run_id)
    settle(qtbot)
    watch = win.watch
    grid_size = watch.tile(ids[1]).size()
    qtbot.mouseClick(watch.tile(ids[1]).maximise_button, Qt.MouseButton.LeftButton)
    settle(qtbot)
    alone = watch.tile(ids[1])
    assert [t.run_id for t in watch.tiles if t.isVisibleTo(watch)] == [ids[1]]
    viewport = watch.grid_scroll.viewport().size()
    assert (
        alone.size() == viewport
        and alone.width() > grid_size.width()
        and alone.height() > grid_size.height()
    )
    assert watch.alone_note.isVisibleTo(watch) and "3 more runs" in watch.alone_note.text()
    # A double-click on its header shows them all again.
    qtbot.mouseDClick(alone.title_label, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    settle(qtbot)
    assert watch.maximised is None and all(t.isVisibleTo(watch) for t in watch.tiles)
    assert alone.size() == grid_size and not watch.alone_note.isVisibleTo(watch)
    # Shown alone, then another run asked for (from the history, the queue): the grid comes back.
    watch.maximise(ids[0])
    win.show_run(ids[2])
    assert watch.maximised is None and all(t.isVisibleTo(watch) for t in watch.tiles)
    # Closing the tile shown alone shows the others.
    watch.maximise(ids[3])
    qtbot.mouseClick(watch.tile(ids[3]).close_button, Qt.MouseButton.LeftButton)
    assert watch.maximised is None and [t.isVisibleTo(watch) for t in watch.tiles] == [True] * 3


def test_example_text_shows_its_ampersands(qtbot, make_window, toy_catalogue, tmp_path):
    """ "Agrawal & Goyal" in an example's description, "a&b" in its file name: shown as written,
    in the welcome's buttons and the File > Examples menu, with no shortcut letter made of them."""
    description = "Thompson sampling with Gaussian priors (Agrawal & Goyal 2013) on Gaussian arms."
    example = Example(tmp_path / "a&b.toml", "a&b", description)
    welcome = Welcome([example])
    qtbot.addWidget(welcome)
    button = welcome.buttons["a&b"]
    assert shown_as(button.text()) == "a&b" and shown_as(button.description()) == description
    assert QKeySequence.mnemonic(button.text()).isEmpty()
    win = make_window(toy_catalogue)
    shipped = next(e for e in win.examples if e.name == "bandits-gaussian-thompson")
    assert "Agrawal & Goyal" in shipped.description
    shown = win.watch.welcome.buttons[shipped.name].description()
    assert "Agrawal & Goyal" in shown_as(shown)
    from studio.menus import build_menus

    menu = build_menus(win, [example]).examples
    action = menu.actions()[0]
    assert shown_as(action.text()) == "a&b" and QKeySequence.mnemonic(action.text()).isEmpty()
