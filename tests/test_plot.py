"""hwlib.plot.LiveLossPlot: records log steps, draws one figure, updates one display in place."""

import math

import matplotlib.image
import pytest

from hwlib.plot import LiveLossPlot, in_notebook


def feed(plot):
    plot({"step": 1, "loss": 5.0, "lr": 1e-3})
    plot({"step": 2, "loss": 4.0, "val_loss": None})
    plot({"step": 3, "loss": 3.5, "val_loss": 3.9, "tokens_per_s": 10.0})
    plot({"step": 4, "loss": float("nan")})
    plot({"step": 5, "loss": 3.0, "val_loss": 3.4})


def test_records_train_and_val_series():
    plot = LiveLossPlot(live=False)
    feed(plot)
    assert plot.steps == [1, 2, 3, 5] and plot.losses == [5.0, 4.0, 3.5, 3.0]
    assert plot.val_steps == [3, 5] and plot.val_losses == [3.9, 3.4]


def test_figure_has_both_series_title_and_labels():
    plot = LiveLossPlot(title="tiny run", figsize=(6, 3), live=False)
    feed(plot)
    fig = plot.figure
    assert tuple(fig.get_size_inches()) == (6, 3)
    (ax,) = fig.axes
    assert ax.get_title() == "tiny run"
    assert ax.get_xlabel() and ax.get_ylabel()
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["train"].get_xdata()) == [1, 2, 3, 5]
    assert list(lines["validation"].get_ydata()) == [3.9, 3.4]
    assert plot.figure is fig, "one figure per run, redrawn in place"
    assert len(fig.axes) == 1


def test_save_writes_png_of_the_figsize(tmp_path):
    plot = LiveLossPlot(figsize=(7, 4), live=False)
    feed(plot)
    path = plot.save(tmp_path / "sub" / "loss.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == (350, 200)


def test_live_mode_displays_once_then_updates_same_handle(monkeypatch):
    calls = []

    class Handle:
        def update(self, obj):
            calls.append(("update", obj))

    def fake_display(obj, display_id=False):
        assert display_id is True
        calls.append(("display", obj))
        return Handle()

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", fake_display)
    plot = LiveLossPlot(live=True)
    feed(plot)
    assert [kind for kind, _ in calls] == ["display"] + ["update"] * 4
    figures = {id(obj) for _, obj in calls}
    assert figures == {id(plot.figure)}
    (ax,) = plot.figure.axes
    assert math.isclose(ax.get_lines()[0].get_ydata()[-1], 3.0)


def test_not_live_outside_a_kernel():
    assert in_notebook() is False
    assert LiveLossPlot().live is False


def test_log_step_needs_a_step():
    with pytest.raises(KeyError):
        LiveLossPlot(live=False)({"loss": 1.0})


def test_pass_ends_are_marked_and_explained():
    # As train() logs: every 2 updates and at each pass end (3 updates per pass), validating
    # on the grid (steps 4, 6) and at the pass ends (3, 6): the double dots at 3-4 need a reason.
    plot = LiveLossPlot(live=False)
    for step, epoch, val in [(2, 0, None), (3, 0, 3.0), (4, 1, 2.9), (6, 1, 2.5), (8, 2, None)]:
        plot({"step": step, "epoch": epoch, "loss": 3.0, "val_loss": val})
    assert plot.pass_ends == [3, 6]
    (ax,) = plot.figure.axes
    marks = [line for line in ax.get_lines() if list(line.get_xdata()) in ([3, 3], [6, 6])]
    assert len(marks) == 2, "one vertical line per completed pass"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("pass" in label for label in labels), labels
    assert len(labels) == 3, "the pass-end line is explained once in the legend"


def test_no_pass_marks_without_epochs():
    plot = LiveLossPlot(live=False)
    feed(plot)
    assert plot.pass_ends == []
