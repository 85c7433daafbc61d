"""Choose: the catalogue pane lists families → algorithms, filters by search, drives the form."""

import pytest

from studio.configure.catalogue_pane import PAPER_ROLE, CataloguePane


@pytest.fixture
def pane(qtbot, toy_catalogue):
    widget = CataloguePane()
    qtbot.addWidget(widget)
    widget.set_catalogue(toy_catalogue)
    return widget


def family_rows(pane):
    tree = pane.tree
    return [
        (
            tree.topLevelItem(i).text(0),
            [
                tree.topLevelItem(i).child(j).text(0)
                for j in range(tree.topLevelItem(i).childCount())
            ],
        )
        for i in range(tree.topLevelItemCount())
    ]


def test_families_hold_their_algorithms_with_paper_titles(pane):
    # Under the family header the family prefix of the id is not repeated.
    assert family_rows(pane) == [
        ("other  (1)", ["only"]),
        ("toy  (3)", ["every_type", "front", "regret"]),
    ]
    item = pane._items["toy.every_type"]
    assert item.data(0, PAPER_ROLE) == "A Paper With Every Type"
    assert (
        item.toolTip(0)
        == "toy.every_type\nA Paper With Every Type\nDeclares one parameter of each type."
    )


@pytest.mark.parametrize(
    "text, shown",
    [
        ("", ["other.only", "toy.every_type", "toy.front", "toy.regret"]),
        ("every", ["toy.every_type"]),  # a word of the id and of the paper
        ("FRONTS", ["toy.front"]),  # case does not matter
        ("plane", ["other.only"]),  # the title of the problem it runs on
        ("quadratic", ["toy.every_type", "toy.front", "toy.regret"]),  # a problem id
        ("toy regret", ["toy.regret"]),  # every word must match
        ("pareto", ["toy.front"]),  # its plot kind
        ("nothing-like-this", []),
    ],
)
def test_the_search_keeps_what_matches_every_word(pane, text, shown):
    pane.search.setText(text)
    assert pane.visible_algorithms() == shown
    assert pane.no_match.isHidden() == bool(shown)
    # A family with nothing left to show is hidden too; the others count what they show.
    visible_families = [
        pane.tree.topLevelItem(i).text(0)
        for i in range(pane.tree.topLevelItemCount())
        if not pane.tree.topLevelItem(i).isHidden()
    ]
    assert [f.split("  ")[0] for f in visible_families] == sorted({s.split(".")[0] for s in shown})


def test_choosing_an_algorithm_shows_its_paper_and_problems(qtbot, pane):
    with qtbot.waitSignal(pane.algorithm_chosen) as chosen:
        pane.select("toy.every_type")
    assert chosen.args == ["toy.every_type"]
    text = pane.details.text()
    assert "<code>toy.every_type</code>" in text
    assert "A Paper With Every Type" in text and "Declares one parameter of each type." in text
    assert "toy.quadratic" in text and "A quadratic" in text
    assert "metric curves" in text


def test_selecting_a_hidden_algorithm_clears_the_search(pane):
    pane.search.setText("fronts")
    pane.select("toy.regret")
    assert pane.search.text() == "" and pane.current_id == "toy.regret"
    with pytest.raises(KeyError):
        pane.select("toy.missing")


def test_the_pane_and_the_form_follow_each_other(make_window, toy_catalogue, tmp_path):
    win = make_window(toy_catalogue)
    win.catalogue_pane.select("toy.front")
    assert win.config.algorithm.id == "toy.front"
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[run]\nsteps = 5\n[algorithm]\nid = "toy.regret"\n[problem]\nid = "toy.quadratic"\n'
    )
    assert win.load_spec(spec)
    assert win.catalogue_pane.current_id == "toy.regret"
