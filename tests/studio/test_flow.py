"""The whole user flow through the real engine: choose, configure, run two runs, watch,
find them in the history, compare them, export the comparison as PNG, SVG and PDF."""

import xml.etree.ElementTree as ET

import numpy as np
from PySide6.QtCore import Qt

ENGINE_MS = 90_000


def configure(win, c, name):
    win.catalogue_pane.select("bandits.ucb1")
    win.config.forms()["algorithm"].fields["c"].set_value(c)
    win.config.run_form.fields["seeds"].set_value(3)
    win.config.run_form.fields["steps"].set_value(2000)
    win.config.run_form.fields["name"].set_value(name)
    win.hardware_panel.set_device("cpu")
    win.hardware_panel.threads.setValue(1)


def test_choose_run_compare_export(qtbot, make_window, store, engine_catalogue, tmp_path):
    win = make_window(catalogue=engine_catalogue)
    entries = []
    for c, name in ((0.5, "ucb1 c=0.5"), (2.0, "ucb1 c=2")):
        configure(win, c, name)
        assert win.run_button.isEnabled()
        qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
        entries.append(win.queue.entries[-1])
    qtbot.waitUntil(lambda: all(e.state == "finished" for e in entries), timeout=ENGINE_MS)
    ids = [e.run_id for e in entries]
    assert [store.get_run(i)["status"] for i in ids] == ["finished", "finished"]
    assert [store.get_run(i)["spec_json"].count('"c": 0.5') for i in ids] == [1, 0]

    # Watch: the plot of the first run holds the store's mean over its three seeds.
    plot = win.watch.plot_for(ids[0])
    qtbot.waitUntil(lambda: not plot.poll_timer.isActive(), timeout=ENGINE_MS)
    per_seed = store.series(ids[0], "cumulative_regret")
    _, y = plot.view.series.mean_curve.getOriginalDataset()
    assert np.allclose(y, np.mean([per_seed[s][1] for s in range(3)], axis=0))

    # History: both runs listed; select them and press Compare.
    panels = win.studio_panels
    history = panels.history
    history.refresh()
    qtbot.waitUntil(lambda: history.model.rowCount() == 2, timeout=10_000)
    history.select_runs(ids)
    assert sorted(history.selected_ids()) == sorted(ids)
    qtbot.mouseClick(history.compare_button, Qt.MouseButton.LeftButton)
    assert win.panels.currentWidget() is panels.compare_page
    assert sorted(panels.compare.run_ids) == sorted(ids)
    figure = panels.compare.current_figure()
    means = [curve for curve in figure.curves if curve.lo is not None]
    assert len(means) == 2
    final = {round(curve.mean[-1], 9) for curve in means}
    expected = {
        round(float(np.mean([store.series(i, "cumulative_regret")[s][1][-1] for s in range(3)])), 9)
        for i in ids
    }
    assert final == expected

    # Export the comparison (File ▸ Export… while Compare is in front).
    dialog = panels.export_current()
    dialog.folder_edit.setText(str(tmp_path / "out"))
    dialog.stem_edit.setText("ucb1-c")
    for box in dialog.format_boxes.values():
        box.setChecked(True)
    dialog.data_csv.setChecked(False)
    dialog.data_json.setChecked(False)
    dialog.export()
    out = tmp_path / "out"
    assert (out / "ucb1-c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "ucb1-c.pdf").read_bytes()[:5] == b"%PDF-"
    svg = ET.parse(out / "ucb1-c.svg").getroot()
    texts = ["".join(t.itertext()) for t in svg.iter() if t.tag.endswith("text")]
    assert any("cumulative regret" in t for t in texts) and any(t.strip() == "step" for t in texts)
    assert any("ucb1 c=0.5" in t for t in texts)  # the legend names each run
    compile((out / "ucb1-c.py").read_text(), "ucb1-c.py", "exec")
    dialog.close()
