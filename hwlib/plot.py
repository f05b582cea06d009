"""A live training/validation loss curve for notebooks, and a PNG of it everywhere else.

    plot = LiveLossPlot(title="tiny model on the bundled stories")
    train(cfg, callbacks=[plot])     # the curve redraws in place in the cell running train()
    plot.save("runs/demo/loss.png")

One figure per run, created once and updated through a `display(fig, display_id=True)` handle:
a `clear_output` loop would emit one figure per step, which nbval would then compare one by one.
Outside a notebook (scripts, tests, CI) it only records the points and can save the PNG.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from matplotlib.figure import Figure


def in_notebook() -> bool:
    """True inside a Jupyter/Colab kernel, where rich display reaches a front end."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    # Terminal IPython has no kernel; ipykernel's shell (and Colab's subclass of it) does.
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveLossPlot:
    """Train and validation loss against optimizer step, as a train() callback.

    Called with each log-step dict (keys `step`, `loss`, optional `val_loss` and `epoch`); other
    keys are ignored, and a missing or None `loss` / `val_loss` adds no point to that series.

    train() also validates at the end of every pass over the data, off the --val_per_steps grid,
    which shows as two close validation points; a dotted line marks each such pass end (the last
    step logged before `epoch` grows), so the extra point is explained on the plot itself.
    """

    def __init__(
        self,
        title: str = "Training loss",
        figsize: tuple[float, float] = (7.0, 4.0),
        live: bool | None = None,
        logy: bool = False,
    ):
        self.title = title
        self.figsize = figsize
        self.live = in_notebook() if live is None else live
        self.logy = logy  # a log axis shows late progress once the early drop dominates the plot
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.pass_ends: list[int] = []  # last step of each completed pass over the training data
        self._last: tuple[int, int] | None = None  # (step, epoch) of the previous log
        self._fig: Figure | None = None
        self._handle = None

    def __call__(self, log: dict) -> None:
        step = int(log["step"])
        epoch = log.get("epoch")
        if epoch is not None:
            if self._last is not None and int(epoch) > self._last[1]:
                self.pass_ends.append(self._last[0])
            self._last = (step, int(epoch))
        if _finite(log.get("loss")):
            self.steps.append(step)
            self.losses.append(float(log["loss"]))
        if _finite(log.get("val_loss")):
            self.val_steps.append(step)
            self.val_losses.append(float(log["val_loss"]))
        if self.live:
            self.show()

    @property
    def figure(self) -> Figure:
        """The one figure of this run, redrawn from the recorded points."""
        if self._fig is None:
            self._fig = self._new_figure()
        self._draw(self._fig)
        return self._fig

    def show(self) -> None:
        """Display the figure once, then update that same display in place."""
        from IPython.display import display

        fig = self.figure
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

    def save(self, path: str | os.PathLike, dpi: int = 100) -> Path:
        """Write the current curve as a PNG (parent folders created); return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure.savefig(path, dpi=dpi, format="png")
        return path

    def _new_figure(self) -> Figure:
        if self.live:
            # pyplot activates the kernel's inline backend, which knows how to render a Figure;
            # closing it stops that backend from showing a second copy at the end of the cell.
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=self.figsize)
            plt.close(fig)
            return fig
        # No pyplot outside notebooks: no GUI backend is ever picked, so this works headless.
        return Figure(figsize=self.figsize)

    def _draw(self, fig: Figure) -> None:
        fig.clear()
        ax = fig.add_subplot(1, 1, 1)
        if self.steps:
            ax.plot(self.steps, self.losses, label="train", color="tab:blue")
        if self.val_steps:
            ax.plot(self.val_steps, self.val_losses, "o-", label="validation", color="tab:orange")
        for i, step in enumerate(self.pass_ends):
            ax.axvline(step, color="gray", linestyle=":", linewidth=1,
                       label="end of a pass (validated there too)" if i == 0 else None)
        ax.set_title(self.title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("cross-entropy loss (nats/token)")
        if self.logy and (self.losses or self.val_losses):
            ax.set_yscale("log")
        if self.steps or self.val_steps:
            ax.legend(loc="upper right")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))

