import pytest
from PIL import Image

from runner.figures import (_confusion_cells, _dev_curves_plot, _training_figure,
                                 confusion_figure, dev_curves, training_curves)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = ["happy", "sad", "neutral"]


def history(f1s, loss0=1.5):
    return [{"epoch": e, "loss": loss0 / e, "dev_weighted_f1": f1, "lr": 1e-3}
            for e, f1 in enumerate(f1s, start=1)]


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 0 and image.height > 0
    # Written through write_atomic: no temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_training_curves_is_a_png(tmp_path):
    path = tmp_path / "curves.png"
    assert training_curves(history([40.0, 55.5, 52.0]), 2, path) == path
    assert_png(path)


def test_training_curves_marks_the_best_epoch_on_the_dev_axis():
    fig = _training_figure(history([40.0, 55.5, 52.0]), best_epoch=2)
    loss_axis, dev_axis = fig.axes
    assert loss_axis.get_ylabel() == "train loss"
    assert dev_axis.get_ylabel() == "dev weighted F1 (%)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["train loss", "dev weighted F1", "selected: epoch 2, 55.50%"]
    marker = [line for line in dev_axis.lines if line.get_marker() == "*"]
    assert [(list(m.get_xdata()), list(m.get_ydata())) for m in marker] == [([2], [55.5])]


def test_training_curves_of_one_epoch(tmp_path):
    assert_png(training_curves(history([33.0]), 1, tmp_path / "curves.png"))


def test_training_curves_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty history"):
        training_curves([], 1, tmp_path / "curves.png")
    with pytest.raises(ValueError, match="best_epoch=7 is not an epoch"):
        training_curves(history([40.0, 50.0]), 7, tmp_path / "curves.png")
    with pytest.raises(ValueError, match="row 0 lacks dev_weighted_f1"):
        training_curves([{"epoch": 1, "loss": 1.0}], 1, tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


def test_confusion_rows_are_normalised_and_annotated():
    fractions, notes = _confusion_cells([[1, 1, 2], [0, 0, 0], [0, 3, 1]], LABELS)
    assert fractions.tolist() == [[0.25, 0.25, 0.5], [0.0, 0.0, 0.0], [0.0, 0.75, 0.25]]
    assert notes == [["0.25\n(1)", "0.25\n(1)", "0.50\n(2)"],
                     ["0.00\n(0)", "0.00\n(0)", "0.00\n(0)"],
                     ["0.00\n(0)", "0.75\n(3)", "0.25\n(1)"]]


def test_confusion_figure_is_a_png_without_warnings(tmp_path, recwarn):
    path = confusion_figure([[5, 1, 0], [0, 0, 0], [2, 0, 7]], LABELS,
                            tmp_path / "confusion.png", title="test")
    assert_png(path)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_confusion_figure_refuses_a_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match=r"must be 3 × 3 .* got 2 rows"):
        confusion_figure([[1, 0], [0, 1]], LABELS, tmp_path / "confusion.png")
    with pytest.raises(ValueError, match=r"lengths \[3, 2, 3\]"):
        confusion_figure([[1, 0, 0], [0, 1], [0, 0, 1]], LABELS, tmp_path / "c.png")
    with pytest.raises(ValueError, match="negative"):
        confusion_figure([[1, 0, 0], [0, -1, 0], [0, 0, 1]], LABELS, tmp_path / "c.png")
    with pytest.raises(ValueError, match="at least one class"):
        confusion_figure([], [], tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


def test_dev_curves_share_one_legend_entry_per_configuration(tmp_path):
    runs = [("causal", history([40.0, 50.0])), ("window", history([45.0])),
            ("causal", history([42.0, 49.0, 51.0])), ("failed", [])]
    fig = _dev_curves_plot(runs)
    ax, = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["causal (2 runs)", "window"]
    lines = {line.get_label(): line.get_color() for line in ax.lines}
    assert len(ax.lines) == 3
    # Both seeds of causal are drawn in one colour, window in another.
    causal = [c for label, c in lines.items() if "causal" in label]
    assert len(causal) == 2 and len(set(causal)) == 1 and lines["window"] != causal[0]
    assert_png(dev_curves(runs, tmp_path / "dev_curves.png", title="sweep"))


def test_dev_curves_put_many_configurations_beside_the_axes():
    runs = [(f"iemocap/causal(past={p})", history([40.0 + p, 50.0])) for p in range(12)]
    fig = _dev_curves_plot(runs)
    assert fig.axes[0].get_legend() is None
    legend, = fig.legends
    assert len(legend.get_texts()) == 12
    # Past ten colours the line style changes, so no two look alike.
    styles = {(line.get_color(), line.get_linestyle()) for line in fig.axes[0].lines}
    assert len(styles) == 12


def test_dev_curves_refuse_only_empty_histories(tmp_path):
    with pytest.raises(ValueError, match="all 2 runs given have none"):
        dev_curves([("a", []), ("b", [])], tmp_path / "dev.png")
    with pytest.raises(ValueError, match="all 0 runs"):
        dev_curves([], tmp_path / "dev.png")
    with pytest.raises(ValueError, match=r"run 'a'.*lacks epoch"):
        dev_curves([("a", [{"loss": 1.0, "dev_weighted_f1": 3.0}])], tmp_path / "dev.png")
    assert list(tmp_path.iterdir()) == []
