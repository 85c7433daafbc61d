"""The Pareto view: the front, the reference point and the hypervolume, against hand-computed values."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from studio.views import plot_style
from studio.views.pareto_view import ParetoView
from studio.views.run_data import RunData
from tests.studio.plot_items import xy

# Minimise error, maximise accuracy. At step 10, (0.3, 0.7) is beaten by (0.2, 0.8) and
# (0.5, 0.85) by (0.4, 0.9): the front is (0.1, 0.5), (0.2, 0.8), (0.4, 0.9).
LATEST = [
    (0, [0.1, 0.5], 0.9),
    (0, [0.3, 0.7], 0.7),
    (1, [0.4, 0.9], 0.2),
    (1, [0.2, 0.8], 0.3),
    (1, [0.5, 0.85], 0.1),
]
FRONT = [(0.1, 0.5), (0.2, 0.8), (0.4, 0.9)]
# Hypervolume at the declared reference (1, 0): staircase rectangles 0.1 x 0.5 + 0.2 x 0.8 + 0.6 x 0.9.
HV_DECLARED = 0.75
# At (0.5, 0.6) only (0.2, 0.8) and (0.4, 0.9) dominate it: 0.2 x 0.2 + 0.1 x 0.3.
HV_MOVED = 0.07


def two_objective_run(shift=0.0, declared=True, recorded=True) -> RunData:
    data = RunData()
    if declared:
        data.set_objectives(
            {
                "names": ["error", "accuracy"],
                "directions": ["min", "max"],
                "reference_point": [1.0, 0.0],
            }
        )
    points = [
        {"step": 5, "seed": 0, "point": 0, "objectives": [0.9, 0.1], "label": {"weight": 0.5}},
        {"step": 5, "seed": 1, "point": 0, "objectives": [0.45, 0.7], "label": {"weight": 0.5}},
    ]
    points += [
        {
            "step": 10,
            "seed": seed,
            "point": i,
            "objectives": [p[0] + shift, p[1]],
            "label": {"weight": w},
        }
        for i, (seed, p, w) in enumerate(LATEST)
    ]
    data.add_pareto(points)
    if recorded:
        data.add_series([("hypervolume", 10, 0, 0.4, 1.0), ("hypervolume", 10, 1, 0.6, 1.0)])
    return data


def three_objective_run() -> RunData:
    """A (1,2,3), B (2,1,3), C (3,3,1) non-dominated; D (2,2,4) beaten by A, F (4,4,4) by all."""
    data = RunData()
    data.set_objectives(
        {"names": ["f1", "f2", "f3"], "directions": ["min"] * 3, "reference_point": [5, 5, 5]}
    )
    points = [[1, 2, 3], [2, 1, 3], [3, 3, 1], [2, 2, 4], [4, 4, 4]]
    data.add_pareto(
        [
            {"step": 7, "seed": 0, "point": i, "objectives": p, "label": {}}
            for i, p in enumerate(points)
        ]
    )
    return data


def pairs(scatter):
    return sorted(zip(scatter.data["x"].tolist(), scatter.data["y"].tolist()))


@pytest.fixture
def view(qtbot):
    widget = ParetoView()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def test_front_highlighted_joined_and_dominated_faded(view):
    view.render(two_objective_run())
    front_plot = view.projections[0]
    layer = front_plot.layers[0]
    assert pairs(layer.front_points) == FRONT
    assert pairs(layer.dominated_points) == [(0.3, 0.7), (0.5, 0.85)]
    # The attainment surface: error up at each point's accuracy, then accuracy up to the next point.
    assert xy(layer.front_line)[0].tolist() == [0.1, 0.2, 0.2, 0.4, 0.4]
    assert xy(layer.front_line)[1].tolist() == [0.5, 0.5, 0.8, 0.8, 0.9]
    assert layer.dominated_points.opts["brush"].color().alpha() < 255
    assert layer.front_points.opts["brush"].color().getRgb()[:3] == plot_style.FRONT_COLOUR
    assert front_plot.plot_item.getAxis("bottom").labelText == "error (min)"
    assert front_plot.plot_item.getAxis("left").labelText == "accuracy (max)"
    assert "step 10: 3 of 5 non-dominated" in front_plot.plot_item.titleLabel.text
    assert pairs(front_plot.reference_point) == [(1.0, 0.0)]
    legend = [label.text for _, label in front_plot.plot_item.legend.items]
    assert legend == ["non-dominated", "dominated", "reference point"]


def test_legend_goes_to_the_corner_where_it_hides_no_point():
    """Points along y = 1 - x from (0, 1) to (0.5, 0.5) with the reference at (2, 2): the
    top-left box (x <= 0.9, y >= 1.3) and the bottom-right one (x >= 1.1, y <= 0.7) are empty,
    the bottom-left holds the front's lower end, the top-right the reference point."""
    xs = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 2.0]
    ys = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 2.0]
    assert plot_style.emptiest_corner(xs, ys) == "top-left"
    assert (
        plot_style.emptiest_corner(xs, ys, ("bottom-right", "top-left", "bottom-left", "top-right"))
        == "bottom-right"
    )
    crowded = xs + [0.05, 0.1]  # two more points in the top-left box
    assert plot_style.emptiest_corner(crowded, ys + [1.9, 1.5]) == "bottom-right"
    assert plot_style.emptiest_corner([], []) == "top-left"
    # Two more points in the top-left box: counted alike, the reference point's corner holds
    # fewer; weighted as the front view weighs it (more than all points), it is avoided.
    more_x, more_y = [0.05, 0.1, *xs], [1.9, 1.5, *ys]
    assert plot_style.emptiest_corner(more_x, more_y, ("top-left", "top-right")) == "top-right"
    weights = [1] * 8 + [9]
    assert (
        plot_style.emptiest_corner(more_x, more_y, ("top-left", "top-right"), weights=weights)
        == "top-left"
    )


def test_front_view_places_its_legend_off_the_front(view):
    # Minimise error, maximise accuracy: the ideal corner is top-left, where the front bends,
    # and the reference (1, 0) sits bottom-right; the bottom-left box holds no point.
    view.render(two_objective_run())
    assert view.projections[0].plot_item.legend.opts["offset"] == plot_style.legend_offset(
        "bottom-left"
    )


def test_hypervolume_follows_a_typed_or_dragged_reference_point(qtbot, view):
    view.render(two_objective_run())
    assert view.reference_source == "declared" and view.hypervolumes == [pytest.approx(HV_DECLARED)]
    assert "0.75" in view.hypervolume_label.text()
    trace = view.hypervolume
    qtbot.waitUntil(lambda: len(xy(trace.mean_curve)[0]) == 1, timeout=2000)
    assert (
        np.allclose(xy(trace.mean_curve)[1], [0.5])
        and "recorded by the run" in trace.plot_item.titleLabel.text
    )

    view.projections[0].reference_target.setPos(0.5, 0.6)  # as a drag does
    assert view.reference == [0.5, 0.6] and view.reference_source == "user"
    assert view.hypervolumes == [pytest.approx(HV_MOVED)]
    assert [box.value() for box in view.reference_editor.boxes] == [0.5, 0.6]
    assert pairs(view.projections[0].reference_point) == [(0.5, 0.6)]
    # Recomputed per seed from the stored points: step 5 seeds (0, 0.05 x 0.1), step 10 seeds (0.2 x 0.1, 0.07).
    qtbot.waitUntil(lambda: len(xy(trace.mean_curve)[0]) == 2, timeout=2000)
    assert xy(trace.mean_curve)[0].tolist() == [5, 10]
    assert np.allclose(xy(trace.mean_curve)[1], [0.0025, 0.045])
    assert "recomputed" in trace.plot_item.titleLabel.text

    view.reference_editor.boxes[1].setValue(
        0.0
    )  # typed: (0.5, 0): 0.1 x 0.5 + 0.2 x 0.8 + 0.1 x 0.9
    assert view.hypervolumes == [pytest.approx(0.3)]
    assert view.reset_button.isEnabled()
    view.reset_button.click()
    assert view.reference == [1.0, 0.0] and view.hypervolumes == [pytest.approx(HV_DECLARED)]
    qtbot.waitUntil(lambda: "recorded" in trace.plot_item.titleLabel.text, timeout=2000)


def test_a_bad_reference_point_is_refused_by_name(view):
    view.render(two_objective_run())
    with pytest.raises(ValueError, match="needs 2 values"):
        view.set_reference_point([1.0])
    with pytest.raises(ValueError, match="must be finite"):
        view.set_reference_point([1.0, float("nan")])


def test_without_a_declared_reference_one_is_estimated_beyond_the_worst_point(view):
    view.render(two_objective_run(declared=False))
    # Unnamed objectives are minimised: worst (0.5, 0.9), best (0.1, 0.5); 10% of each range beyond.
    assert view.reference_source == "estimated"
    assert view.reference == pytest.approx([0.54, 0.94])
    assert "estimated" in view.hypervolume_label.text()


def test_three_objectives_are_drawn_as_pairwise_projections(view):
    view.render(three_objective_run())
    assert [p.axes for p in view.projections] == [(0, 1), (0, 2), (1, 2)]
    expected = {
        (0, 1): [(1, 2), (2, 1), (3, 3)],
        (0, 2): [(1, 3), (2, 3), (3, 1)],
        (1, 2): [(1, 3), (2, 3), (3, 1)],
    }
    for projection in view.projections:
        layer = projection.layers[0]
        assert pairs(layer.front_points) == expected[projection.axes]
        assert len(layer.dominated_points.data) == 2
        assert len(xy(layer.front_line)[0]) == 0  # a projected front is not a curve: not joined
    # Inclusion-exclusion over the boxes [p, (5, 5, 5)]: 24 + 24 + 16 - 18 - 8 - 8 + 8.
    assert view.hypervolumes == [pytest.approx(38.0)]
    view.projections[2].reference_target.setPos(4.0, 4.0)  # drag in the f2-f3 plane
    assert view.reference == [5.0, 4.0, 4.0]
    assert pairs(view.projections[0].reference_point) == [(5.0, 4.0)]
    # Boxes to (5, 4, 4): 8 + 9 + 6 - 6 - 2 - 2 + 2.
    assert view.hypervolumes == [pytest.approx(15.0)]


def test_hovering_a_point_with_the_mouse_says_what_produced_it(qtbot, view):
    qtbot.waitExposed(view)
    view.render(two_objective_run())
    front_plot = view.projections[0]
    qtbot.wait(20)  # the auto-range settles on the next pass of the event loop
    scene = front_plot.plot_item.getViewBox().mapViewToScene(QPointF(0.2005, 0.799))
    qtbot.mouseMove(front_plot.plot.viewport(), front_plot.plot.mapFromScene(scene))
    qtbot.waitUntil(lambda: front_plot.hover.text != "", timeout=2000)
    assert front_plot.hover.text.splitlines() == [
        "error = 0.2 (min)",
        "accuracy = 0.8 (max)",
        "non-dominated",
        "seed 1, step 10",
        "weight = 0.3",
    ]
    assert front_plot.hover.marker.data["x"].tolist() == [0.2]
    assert front_plot.hover.hover_at(0.75, 0.3) == ""  # nothing within reach


def test_overlaid_fronts_each_in_their_colour(view):
    view.render_overlay(
        [
            ("run A", two_objective_run()),
            ("run B", two_objective_run(shift=0.05)),
            ("other", three_objective_run()),
        ]
    )
    layers = view.projections[0].layers
    assert len(layers) == 2
    assert np.allclose(pairs(layers[1].front_points), [(0.15, 0.5), (0.25, 0.8), (0.45, 0.9)])
    for index, layer in enumerate(layers):
        assert (
            layer.front_points.opts["brush"].color().getRgb()[:3] == plot_style.RUN_COLOURS[index]
        )
    legend = [label.text for _, label in view.projections[0].plot_item.legend.items]
    assert legend == ["run A", "run B", "reference point"]
    # Run B's error is 0.05 worse everywhere: 0.1 x 0.5 + 0.2 x 0.8 + 0.55 x 0.9.
    assert view.hypervolumes == [pytest.approx(0.75), pytest.approx(0.705)]
    assert not view.notice.isHidden() and "other" in view.notice.text()
    text = view.projections[0].hover.hover_at(0.25, 0.8)
    assert text.splitlines()[0] == "run B"


def test_a_narrow_view_stacks_the_hypervolume_trace_below_the_front(qtbot, view):
    view.render(two_objective_run())

    def cell_of(widget):
        row, column, _, _ = view.grid.getItemPosition(view.grid.indexOf(widget))
        return row, column

    assert cell_of(view.hypervolume) == (0, 1)  # 1000 px wide: beside the front
    view.resize(700, 600)
    qtbot.waitUntil(lambda: cell_of(view.hypervolume) == (1, 0))
    view.resize(1000, 600)
    qtbot.waitUntil(lambda: cell_of(view.hypervolume) == (0, 1))
    view.render(three_objective_run())
    view.resize(700, 600)
    assert cell_of(view.hypervolume) == (
        1,
        1,
    )  # projections fill a grid: the trace takes the next cell


def test_the_attainment_staircase_by_hand():
    """Both maximised, (1, 3), (2, 2), (3, 1): from the best first objective, each step goes to the
    next point's first objective at the current second (the corner both dominate), then up to it:
    (3, 1) -> (2, 1) -> (2, 2) -> (1, 2) -> (1, 3). Both minimised: the mirror image."""
    from studio.views.pareto_summary import attainment_staircase

    x, y = attainment_staircase(np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]), ["max", "max"])
    assert x.tolist() == [3.0, 2.0, 2.0, 1.0, 1.0] and y.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0]
    x, y = attainment_staircase(np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]]), ["min", "min"])
    assert x.tolist() == [1.0, 2.0, 2.0, 3.0, 3.0] and y.tolist() == [3.0, 3.0, 2.0, 2.0, 1.0]
    assert [len(v) for v in attainment_staircase(np.array([[1.0, 2.0]]), ["min", "min"])] == [0, 0]
