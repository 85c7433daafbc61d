"""The curves view: several metrics with linked x axes, wall time, log y, and honest smoothing."""

import numpy as np
import pytest

from studio.views import plot_style
from studio.views.decimate import PEAK, aligned_decimate, choose_factor
from studio.views.run_data import RunData, SeedTable
from studio.views.series_views import CurvesView
from tests.studio.plot_items import legend_texts, xy

SEED0 = [4.0, 2.0, 3.0, 1.0, 2.0, 0.5]
STEPS = [1, 2, 3, 4, 5, 6]


def curves_run(metrics=("accuracy", "loss", "kl", "grad_norm"), offset=0.0) -> RunData:
    """Each metric m (index k): seed 0 holds SEED0 + k + offset, seed 1 two more; recorded at 0.25 s per step."""
    data = RunData()
    rows = []
    for k, metric in enumerate(metrics):
        for s, v in zip(STEPS, SEED0):
            rows += [
                (metric, s, 0, v + k + offset, 0.25 * s),
                (metric, s, 1, v + k + offset + 2, 0.25 * s),
            ]
    data.add_series(rows)
    return data


def ema_by_hand(values, w):
    """TensorBoard's loop (debiased): s_k = w s_{k-1} + (1 - w) x_k, shown s_k / (1 - w^k)."""
    last, out = 0.0, []
    for k, x in enumerate(values, start=1):
        last = w * last + (1 - w) * x
        out.append(last / (1 - w**k))
    return out


@pytest.fixture
def view(qtbot):
    widget = CurvesView()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def test_loss_first_then_recorded_order_with_linked_x_axes(view):
    view.render(curves_run())
    assert view.shown_metrics == ["loss", "accuracy", "kl"]
    assert [(a.data(), a.isChecked()) for a in view.metric_menu.actions()] == [
        ("accuracy", True),
        ("loss", True),
        ("kl", True),
        ("grad_norm", False),
    ]
    assert view.metric_button.text() == "metrics (3 of 4)"
    first = view.plots["loss"]
    assert view.series is first
    for metric in ("accuracy", "kl"):
        assert view.plots[metric].view_box.linkedView(0) is first.view_box
    assert [p.plot_item.legend.isVisible() for p in view.plots.values()] == [True, False, False]
    # loss is metric index 1: its mean over the two seeds is SEED0 + 1 + 1.
    assert np.allclose(xy(first.mean_curve)[1], np.array(SEED0) + 2)
    assert first.plot_item.getAxis("left").labelText == "loss"
    assert first.plot_item.getAxis("bottom").labelText == "step"


def test_choosing_metrics_in_the_menu_is_kept_when_more_arrive(view):
    view.render(curves_run())
    grad = next(a for a in view.metric_menu.actions() if a.data() == "grad_norm")
    loss = next(a for a in view.metric_menu.actions() if a.data() == "loss")
    grad.setChecked(True)
    loss.setChecked(False)
    assert view.shown_metrics == ["accuracy", "kl", "grad_norm"]
    view.render(curves_run(("accuracy", "loss", "kl", "grad_norm", "later")))
    assert view.shown_metrics == ["accuracy", "kl", "grad_norm"]
    view.set_metrics(["later"])
    assert view.shown_metrics == ["later"] and np.allclose(
        xy(view.series.mean_curve)[1], np.array(SEED0) + 5
    )


def test_smoothing_draws_the_debiased_ema_over_a_faint_raw_mean_and_says_so(view):
    view.render(curves_run(("loss",)))
    plot = view.series
    assert plot.badge.isHidden() and not plot.layers[0].raw.item.isVisible()
    view.set_smoothing(0.5)
    mean = np.array(SEED0) + 1
    smoothed = xy(plot.mean_curve)[1]
    # By hand for w = 0.5: 5; (1.25 + 1.5) / 0.75; (1.375 + 2) / 0.875.
    assert np.allclose(smoothed[:3], [5.0, 2.75 / 0.75, 3.375 / 0.875])
    assert np.allclose(smoothed, ema_by_hand(mean, 0.5))
    raw = plot.layers[0].raw.item
    assert raw.isVisible() and np.allclose(xy(raw)[1], mean)
    assert raw.opts["pen"].color().alpha() == plot_style.FAINT_ALPHA
    assert not plot.badge.isHidden() and "smoothed: EMA 0.50" in plot.badge.text()
    assert legend_texts(plot)[:2] == ["mean over seeds, smoothed", "mean over seeds, raw"]
    assert view.smoothing_slider.value() == 500
    assert "smoothed 3.66667" in plot.hover.hover_at(2.0, 3.0)
    view.set_smoothing(0.0)
    assert (
        plot.badge.isHidden() and not raw.isVisible() and np.allclose(xy(plot.mean_curve)[1], mean)
    )


def test_smoothing_happens_on_full_resolution_before_thinning(view):
    """Drawn = peak-thinning of the EMA of all 100,000 points, not an EMA of the thinned curve."""
    data = RunData()
    data.tables["loss"] = table = SeedTable()
    steps = np.arange(1, 100_001)
    values = np.random.default_rng(0).normal(size=len(steps)) + steps / 1e4
    table.add_many(steps, np.zeros(len(steps), dtype=int), values)
    view.render(data)
    view.set_smoothing(0.9)
    plot = view.series
    factor = choose_factor(len(steps), int(plot.view_box.width()))
    expected_x, expected_y = aligned_decimate(
        steps.astype(float), np.array(ema_by_hand(values, 0.9)), 0, len(steps), factor, PEAK
    )
    x, y = xy(plot.mean_curve)
    assert factor > 1 and plot.downsampling_factor == factor
    assert np.array_equal(x, expected_x) and np.allclose(y, expected_y, rtol=1e-9)
    assert "smoothed" in plot.badge.text() and "downsampled" in plot.badge.text()


def test_wall_time_axis_and_log_y(view):
    view.render(curves_run())
    view.set_x_axis("wall_time")
    assert view.x_axis.currentText() == "wall time (s)"
    for plot in view.plots.values():
        assert plot.plot_item.getAxis("bottom").labelText == "wall time (s)"
    assert xy(view.series.mean_curve)[0].tolist() == [0.25 * s for s in STEPS]
    view.set_log_y(True)
    for plot in view.plots.values():
        # The axis ticks in powers of ten; the item is handed log10 of the data, once.
        assert (
            plot.plot_item.getAxis("left").logMode and not plot.plot_item.getAxis("bottom").logMode
        )
        assert plot.mean_curve.opts["logMode"] == [False, False]
    assert np.allclose(xy(view.series.mean_curve)[1], np.log10(np.array(SEED0) + 2))
    with pytest.raises(ValueError, match="x axis must be one of"):
        view.set_x_axis("epoch")


def test_overlay_draws_every_run_in_every_plot(view):
    view.render_overlay(
        [("lr 0.1", curves_run(("loss",))), ("lr 0.01", curves_run(("loss", "kl"), offset=10))]
    )
    assert view.shown_metrics == ["loss", "kl"]
    loss = view.plots["loss"]
    assert [layer.label for layer in loss.layers] == ["lr 0.1", "lr 0.01"]
    assert np.allclose(xy(loss.layers[0].mean.item)[1], np.array(SEED0) + 1)
    assert np.allclose(xy(loss.layers[1].mean.item)[1], np.array(SEED0) + 11)
    assert legend_texts(loss) == ["lr 0.1", "lr 0.01"]
    kl = view.plots["kl"]
    assert len(xy(kl.layers[0].mean.item)[0]) == 0  # the first run has no kl
    assert np.allclose(xy(kl.layers[1].mean.item)[1], np.array(SEED0) + 12)
    assert kl.layers[1].mean.item.opts["pen"].color().getRgb()[:3] == plot_style.RUN_COLOURS[1]
