"""Progress displays: a tqdm bar in a terminal, an ipywidgets bar in a notebook.

:func:`progress` shows the progress of futures (or persisted arrays); ``compute()``
shows the same display while it waits (``progress=False`` turns it off).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Optional, Protocol

__all__ = ["progress"]

#: Without ``progress=True``, a display appears only for computations that take
#: longer than this many seconds.
AUTO_DELAY = 0.5


class Display(Protocol):
    """What shows progress: a widget, a tqdm bar or a text bar."""

    def update(self, done: int, total: int) -> None:
        """Shows ``done`` of ``total`` tasks."""

    def close(self, status: str) -> None:
        """Ends the display: ``status`` is ``"finished"`` or why it stopped."""


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where widgets can display)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except Exception:
        return False
    return True


class _WidgetBar:
    """An ipywidgets bar with a label: ``done / total tasks``."""

    def __init__(self, total: int, description: str) -> None:
        import ipywidgets
        from IPython.display import display

        self._bar = ipywidgets.IntProgress(
            value=0, min=0, max=max(total, 1), description=description, bar_style="info"
        )
        self._label = ipywidgets.HTML(value=f"0 / {total} tasks")
        self.box = ipywidgets.HBox([self._bar, self._label])
        display(self.box)

    def update(self, done: int, total: int) -> None:
        self._bar.max = max(total, 1)
        self._bar.value = min(done, total)
        self._label.value = f"{done} / {total} tasks"

    def close(self, status: str) -> None:
        self._bar.bar_style = {"finished": "success"}.get(status, "danger")
        if status != "finished":
            self._label.value += f" ({status})"


class _TqdmBar:
    def __init__(self, total: int, description: str, file: Any) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total, desc=description, unit="tasks", file=file, leave=True, dynamic_ncols=True
        )

    def update(self, done: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)  # tqdm's rate follows these steps
        elif done < self._bar.n:  # results lost with a worker are being recomputed
            self._bar.n = done
            self._bar.refresh()

    def close(self, status: str) -> None:
        if status != "finished":
            self._bar.set_postfix_str(status, refresh=False)
        self._bar.close()


class _TextBar:
    """A plain one-line bar, when tqdm is not installed."""

    def __init__(self, total: int, description: str, file: Any) -> None:
        self._file = file
        self._description = description
        self._last = -1
        self.update(0, total)

    def update(self, done: int, total: int) -> None:
        if done == self._last:
            return
        self._last = done
        width = 30
        filled = width * done // max(total, 1)
        pct = 100 * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        self._file.write(f"\r{self._description}: [{bar}] {pct:3d}% {done}/{total} tasks")
        self._file.flush()

    def close(self, status: str) -> None:
        self._file.write("\n" if status == "finished" else f" ({status})\n")
        self._file.flush()


def make_display(
    total: int, description: str = "kaon", notebook: Optional[bool] = None, file: Any = None
) -> Display:
    """A progress display for ``total`` tasks: a widget in a notebook, tqdm (or a
    plain text bar) on ``file`` (default stderr) elsewhere."""
    if notebook is None:
        notebook = in_notebook()
    if notebook and _widgets_available():
        return _WidgetBar(total, description)
    file = sys.stderr if file is None else file
    try:
        return _TqdmBar(total, description, file)
    except ImportError:
        return _TextBar(total, description, file)


def wants_display(progress: Optional[bool]) -> bool:
    """``progress=None`` means: in a notebook, or when stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    if in_notebook():
        return True
    try:
        return sys.stderr.isatty()
    except Exception:
        return False


class Tracker:
    """Follows jobs while something waits for them, showing a display when asked
    (at once for ``progress=True``, after :data:`AUTO_DELAY` for ``progress=None``)."""

    def __init__(self, jobs: list, progress: Optional[bool], description: str = "kaon") -> None:
        self._jobs = jobs
        self._show = wants_display(progress)
        self._delay = 0.0 if progress else AUTO_DELAY
        self._start = time.monotonic()
        self._description = description
        self._display: Optional[Display] = None

    def counts(self) -> tuple[int, int]:
        done = total = 0
        for job in self._jobs:
            d, t, _, _ = job.progress()
            done += d
            total += t
        return done, total

    def tick(self) -> None:
        if not self._show:
            return
        if self._display is None:
            if time.monotonic() - self._start < self._delay:
                return
            self._display = make_display(self.counts()[1], self._description)
        self._display.update(*self.counts())

    def close(self, status: str) -> None:
        if self._display is None and self._show:
            if time.monotonic() - self._start >= self._delay:
                self._display = make_display(self.counts()[1], self._description)
        if self._display is not None:
            if status == "finished":
                self._display.update(*self.counts())
            self._display.close(status)
            self._display = None


def progress(
    *futures: Any,
    notebook: Optional[bool] = None,
    multi: bool = False,
    complete: bool = True,
    **kwargs: Any,
) -> None:
    """Shows the progress of computations running on the cluster.

    Like ``distributed.progress``: a tqdm bar (or a plain text bar without tqdm) on
    stderr in a terminal, an ipywidgets bar in a notebook. ``compute()`` shows the same
    display by itself while it waits (``progress=False`` turns it off).

    Parameters
    ----------
    *futures : Future, Array or lists of them
        Futures from :meth:`kaon.Client.compute`, or arrays: persisted arrays show the
        computation behind them; a lazy array is persisted first (its computation
        starts now, and its result is kept with the array).
    notebook : bool, optional
        Show an ipywidgets bar (default: when running in a notebook). In a notebook
        this returns at once and the bar updates in the background; in a terminal it
        blocks until the computations end, drawing a tqdm bar on stderr.
    multi : bool
        Accepted for compatibility with dask; one bar covers everything.
    complete : bool
        Accepted for compatibility with dask.
    **kwargs
        dask's other arguments, accepted and ignored.

    Raises
    ------
    TypeError
        For something that is neither a future nor an array.
    KeyboardInterrupt
        On Ctrl-C while it blocks (the computations go on; cancel them with
        :meth:`kaon.Client.cancel`).

    Examples
    --------
    >>> import kaon, kaon.array as ka
    >>> x = ka.random.random((20000, 20000), chunks=2000).sum().persist()  # doctest: +SKIP
    >>> kaon.progress(x)                                                   # doctest: +SKIP
    """
    from kaon.array.core import Array
    from kaon.client import Future, get_client

    jobs = []
    flat: list = []

    def walk(v: Any) -> None:
        if isinstance(v, (list, tuple, set)):
            for item in v:
                walk(item)
        else:
            flat.append(v)

    walk(futures)
    for f in flat:
        if isinstance(f, Array):
            if f._future is None:
                f._future = get_client()._submit([f])[0]
            f = f._future
        if not isinstance(f, Future):
            raise TypeError(f"progress() takes futures or arrays, not {type(f).__name__}")
        if f._job not in jobs:
            jobs.append(f._job)
    if notebook is None:
        notebook = in_notebook()
    raw = [j._job for j in jobs]
    if notebook:
        display = make_display(sum(j.progress()[1] for j in raw), "kaon", notebook=True)

        def follow() -> None:
            while True:
                pending = [j for j in jobs if j.status == "pending"]
                display.update(sum(j.progress()[0] for j in raw), sum(j.progress()[1] for j in raw))
                if not pending:
                    bad = [j.status for j in jobs if j.status != "finished"]
                    display.close(bad[0] if bad else "finished")
                    return
                pending[0].wait_step(0.1)

        threading.Thread(target=follow, name="kaon-progress", daemon=True).start()
        return
    tracker = Tracker(raw, progress=True)
    status = "finished"
    try:
        for job in jobs:
            while not job.wait_step(0.1):
                tracker.tick()
            tracker.tick()
        bad = [j.status for j in raw if j.status != "finished"]
        status = bad[0] if bad else "finished"
    except BaseException:
        status = "interrupted"
        raise
    finally:
        tracker.close(status)
