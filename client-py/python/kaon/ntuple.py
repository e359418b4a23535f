"""ROOT ntuples on a Kaon cluster: select events, define columns, fill histograms.

Like ``uproot.dask`` + ``dask-awkward`` (or coffea), but the event loop is Kaon's own
columnar ROOT reader and expression engine, run by the workers::

    >>> import kaon
    >>> events = kaon.ntuple.read("ntuples/*.root", tree="nominal")  # doctest: +SKIP
    >>> sel = (events.filter("lep_n == 2 && lep_pt[0] > 25")          # doctest: +SKIP
    ...              .define("mll", "mass(lep_pt, lep_eta, lep_phi, lep_E)"))
    >>> h = sel.histogram("mll", bins=100, range=(0, 500)).compute()  # doctest: +SKIP
    >>> h.values(), h.edges                                           # doctest: +SKIP
    >>> h.to_hist().plot()                                            # doctest: +SKIP

:func:`read` plans a lazy :class:`Dataset` from the files' metadata (branches and
their types, entries, clusters) without reading any event data. ``filter``,
``define`` and the queries (``histogram``, ``histogram2d``, ``count``, ``sum``,
``to_arrow``, ``to_numpy``) check their expressions at once, so a typo fails where
it was written. A :class:`Query` runs when computed; :func:`compute` runs several at
once, and queries on the same selection share one pass over the data.

Expressions: numbers, branches and defined columns, ``+ - * / % **``, comparisons,
``&& || !``, indexing of jagged branches (``lep_pt[0]``, ``lep_pt[-1]``; past the end
gives NaN, so the event fails a cut), math functions (``sqrt``, ``abs``, ``exp``,
``log``, ``sin``...), per-event ``sum max min mean count any all`` of jagged values,
and ``mass(pt, eta, phi, E [, mask])``, ``mass_m``, ``mass_xyze``, ``delta_phi``,
``delta_r`` (``kaon histogram --help`` lists them all). Histogram bins are
``[low, high)``; NaN goes to the overflow bin.

Errors
------
- :class:`ExpressionError` (a ``ValueError``): an expression does not parse or does
  not type-check; ``.column`` is the 1-based position, ``str(e)`` shows a caret.
  :class:`UnknownBranchError` (also a :class:`MissingBranchError`) when it names a
  branch or column that does not exist.
- ``FileNotFoundError``: a file does not exist, or a pattern matches no file.
- :class:`MissingTreeError` / :class:`MissingBranchError` (``KeyError``\\ s, like
  uproot's ``KeyInFileError``): a tree or a branch is not in a file; ``.file``,
  ``.tree``, ``.branch`` say which.
- ``OSError``: a file is not a ROOT file or cannot be decoded; ``TypeError``: a
  branch has different types in different files, or ``to_numpy`` of a jagged column.
- :class:`kaon.TaskError` (and the rest of the :class:`kaon.KaonError` family): a
  task failed on the cluster while computing (a file changed or went corrupt after
  planning); ``.key`` names the task, the message the file, tree and branch.
"""

from __future__ import annotations

import html
import operator
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

import numpy as np

from kaon import _kaon
from kaon.progress import Tracker

if TYPE_CHECKING:
    import boost_histogram
    import hist

    from kaon.client import Client

__all__ = [
    "Axis",
    "Dataset",
    "ExpressionError",
    "Histogram",
    "MissingBranchError",
    "MissingTreeError",
    "Query",
    "UnknownBranchError",
    "compute",
    "read",
]

#: Entries per partition (one task each) when ``read`` is given no ``step_size``.
DEFAULT_STEP_SIZE = 100_000

PathLike = Union[str, "os.PathLike[str]"]


# ---------------------------------------------------------------------- errors
class ExpressionError(ValueError):
    """An expression that does not parse or type-check.

    Attributes
    ----------
    expr : str
        The expression as written.
    column : int
        1-based position (in characters) of the offending part.
    message : str
        What is wrong there.
    context : str
        Where the expression was used: ``"filter"``, ``"define mll"``,
        ``"histogram"``, ``"weight"``, ``"sum"``...
    """

    def __init__(
        self, text: str, expr: str = "", column: int = 0, message: str = "", context: str = ""
    ) -> None:
        Exception.__init__(self, text)
        self.text = text
        self.expr = expr
        self.column = column
        self.message = message
        self.context = context

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.expr, self.column, self.message, self.context))

    def __str__(self) -> str:
        return self.text


class MissingBranchError(KeyError):
    """A branch (or defined column) that is not in the tree.

    Attributes
    ----------
    file, tree, branch : str
        Where it was looked for, and the name (``file`` may be empty).
    """

    def __init__(self, text: str, file: str = "", tree: str = "", branch: str = "") -> None:
        Exception.__init__(self, text)
        self.text = text
        self.file = file
        self.tree = tree
        self.branch = branch

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.file, self.tree, self.branch))

    def __str__(self) -> str:
        return self.text


class UnknownBranchError(ExpressionError, MissingBranchError):
    """An expression names a branch or column that does not exist (the message
    suggests near names). Both an :class:`ExpressionError` and a
    :class:`MissingBranchError`."""

    def __init__(
        self,
        text: str,
        expr: str = "",
        column: int = 0,
        message: str = "",
        context: str = "",
        branch: str = "",
    ) -> None:
        ExpressionError.__init__(self, text, expr, column, message, context)
        self.branch = branch
        self.file = ""
        self.tree = ""

    def __reduce__(self):  # type: ignore[override]
        return (
            type(self),
            (self.text, self.expr, self.column, self.message, self.context, self.branch),
        )


class MissingTreeError(KeyError):
    """A file without the tree asked for.

    Attributes
    ----------
    file, tree : str
        The file and the tree name.
    available : list of str
        The trees the file has.
    """

    def __init__(
        self, text: str, file: str = "", tree: str = "", available: Sequence[str] = ()
    ) -> None:
        Exception.__init__(self, text)
        self.text = text
        self.file = file
        self.tree = tree
        self.available = list(available)

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.file, self.tree, self.available))

    def __str__(self) -> str:
        return self.text


# ---------------------------------------------------------------------- datasets
def _paths(files: Union[PathLike, Iterable[PathLike]]) -> list[str]:
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    out = []
    for f in files:
        if not isinstance(f, (str, os.PathLike)):
            raise TypeError(f"files must be paths or glob patterns, not {type(f).__name__}")
        out.append(os.path.expanduser(os.fspath(f)))
    return out


def read(
    files: Union[PathLike, Iterable[PathLike]],
    tree: str,
    *,
    branches: Optional[Sequence[str]] = None,
    step_size: int = DEFAULT_STEP_SIZE,
) -> Dataset:
    """Plans a lazy dataset of the events of ``tree`` in ROOT ``files``.

    Opens every file once to read the tree's metadata (branches, types, entries and
    clusters); no event data is read until a query is computed. The workers read the
    files at the same absolute paths, so they must see the same file system.

    Parameters
    ----------
    files : str, path, or list of them
        Files or glob patterns (``"ntuples/*.root"``), in order; each pattern's
        matches are sorted.
    tree : str
        The tree in each file, a path such as ``"nominal"`` or ``"dir/sub/tree"``.
    branches : list of str, optional
        The columns :meth:`Dataset.to_arrow` collects by default (default: every
        branch the reader can decode). Expressions may use any branch either way.
    step_size : int
        About how many entries each task reads; partitions follow the files'
        clusters (like ``uproot.dask``'s ``step_size``).

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If a file does not exist or a pattern matches nothing.
    MissingTreeError
        If a file has no such tree (the message lists the trees it has).
    MissingBranchError
        If ``branches`` names a branch the tree does not have.
    OSError
        If a file is not a ROOT file or its metadata cannot be decoded.

    Examples
    --------
    >>> events = kaon.ntuple.read("data/*.root", tree="nominal")    # doctest: +SKIP
    >>> events.num_entries, events.npartitions                      # doctest: +SKIP
    (1000000, 10)
    >>> events.branches["lep_pt"]                                   # doctest: +SKIP
    'list of float32'
    """
    if not isinstance(tree, str):
        raise TypeError(f"tree must be a str, not {type(tree).__name__}")
    step = operator.index(step_size)
    if step < 1:
        raise ValueError(f"step_size must be at least 1, not {step}")
    cols = None if branches is None else [str(b) for b in branches]
    return Dataset(_kaon.NtupleDataset.read(_paths(files), tree, cols, step))


def _range(r: Any, what: str) -> tuple[float, float]:
    try:
        low, high = r
        return float(low), float(high)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a pair (low, high), not {r!r}") from None


def _bins(b: Any, what: str) -> int:
    try:
        n = operator.index(b)
    except TypeError:
        raise TypeError(
            f"{what} must be a number of regular bins (an int), not {type(b).__name__}; "
            "kaon fills regular bins over a range"
        ) from None
    if n < 0:
        raise ValueError(f"{what} must not be negative, got {n}")
    return n


class Dataset:
    """A lazy set of events: ROOT files and a tree, then ``filter`` and ``define``
    steps. Made by :func:`read`; every method returns a new object.

    Attributes
    ----------
    num_entries : int
        Entries in all files, before any filter.
    branches : dict of str to str
        The tree's branches and their types (``"float32"``, ``"list of float32"``,
        or why expressions cannot use it).
    columns : dict of str to str
        The defined columns and their types.
    files : list of str
        The files, as absolute paths, in order.
    tree : str
    npartitions : int
        Tasks a query runs (one per partition).
    """

    def __init__(self, rust: _kaon.NtupleDataset) -> None:
        self._d = rust

    # ------------------------------------------------------------------ metadata
    @property
    def num_entries(self) -> int:
        return self._d.num_entries

    @property
    def branches(self) -> dict[str, str]:
        return dict(self._d.branches)

    @property
    def columns(self) -> dict[str, str]:
        return dict(self._d.defined)

    @property
    def files(self) -> list[str]:
        return self._d.files

    @property
    def tree(self) -> str:
        return self._d.tree

    @property
    def partitions(self) -> list[tuple[str, int, int]]:
        """``(file, first entry, end entry)`` of each partition."""
        return self._d.partitions

    @property
    def npartitions(self) -> int:
        return len(self._d.partitions)

    @property
    def steps(self) -> list[tuple[str, ...]]:
        """The selection so far: ``("filter", expr)`` and ``("define", name, expr)``."""
        return [(k, e) if k == "filter" else (k, n, e) for k, n, e in self._d.steps]

    # ------------------------------------------------------------------ steps
    def filter(self, expr: str) -> Dataset:
        """Keeps the events where ``expr`` is true.

        Parameters
        ----------
        expr : str
            One true/false value per event, e.g. ``"lep_n == 2 && lep_pt[0] > 25"``;
            reduce a per-object condition with ``any(...)``, ``all(...)`` or
            ``count(...)``. ``a && b`` tests ``b`` only on the events ``a``
            keeps, as ``&&`` does in C++ and RDataFrame: put the cheap, tight cut
            first.

        Raises
        ------
        ExpressionError
            If ``expr`` does not parse, names an unknown branch
            (:class:`UnknownBranchError`) or is not one boolean per event.
        """
        return Dataset(self._d.filter(str(expr)))

    def define(self, name: str, expr: str) -> Dataset:
        """Adds the column ``name`` computed by ``expr`` (per event, or per object of
        a jagged value), usable by later steps and queries.

        Raises
        ------
        ExpressionError
            If ``expr`` is not a valid expression.
        ValueError
            If ``name`` is not a valid column name or exists already.
        """
        return Dataset(self._d.define(str(name), str(expr)))

    # ------------------------------------------------------------------ queries
    def histogram(
        self,
        expr: str,
        bins: int,
        range: tuple[float, float],
        *,
        weight: Optional[str] = None,
    ) -> Query:
        """A 1-D histogram of ``expr`` with ``bins`` regular bins over ``range``.

        Every object of a jagged value is filled. Values below ``range[0]`` go to
        the underflow bin, those at or above ``range[1]`` (and NaN) to the overflow
        bin, as in ROOT and boost-histogram.

        Parameters
        ----------
        expr : str
            A branch, a defined column or an expression.
        bins : int
        range : (float, float)
            ``(low, high)``.
        weight : str, optional
            An expression weighting each entry (e.g. ``"mcWeight"``); the histogram
            then keeps the sums of squared weights too.

        Returns
        -------
        Query
            Computes to a :class:`Histogram`.
        """
        low, high = _range(range, "range")
        return Query(self._d.histogram(str(expr), _bins(bins, "bins"), low, high, weight), self)

    def histogram2d(
        self,
        x: str,
        y: str,
        bins: Union[int, tuple[int, int]],
        range: tuple[tuple[float, float], tuple[float, float]],
        *,
        weight: Optional[str] = None,
    ) -> Query:
        """A 2-D histogram of ``x`` against ``y`` (as ``numpy.histogram2d``).

        Parameters
        ----------
        x, y : str
            Expressions for the two axes.
        bins : int or (int, int)
            Regular bins of both axes, or of each.
        range : ((float, float), (float, float))
            ``((xlow, xhigh), (ylow, yhigh))``.
        weight : str, optional

        Returns
        -------
        Query
            Computes to a 2-D :class:`Histogram`.
        """
        if isinstance(bins, Sequence) and not isinstance(bins, str):
            if len(bins) != 2:
                raise TypeError(f"bins must be an int or a pair of ints, not {bins!r}")
            bx, by = _bins(bins[0], "bins[0]"), _bins(bins[1], "bins[1]")
        else:
            bx = by = _bins(bins, "bins")
        try:
            rx, ry = range
        except (TypeError, ValueError):
            raise TypeError(
                f"range must be ((xlow, xhigh), (ylow, yhigh)), not {range!r}"
            ) from None
        (xl, xh), (yl, yh) = _range(rx, "range[0]"), _range(ry, "range[1]")
        q = self._d.histogram2d((str(x), bx, xl, xh), (str(y), by, yl, yh), weight)
        return Query(q, self)

    def count(self) -> Query:
        """The number of selected events (computes to an int)."""
        return Query(self._d.count(), self)

    def sum(self, expr: str) -> Query:
        """The sum of ``expr`` over the selected events (over every object of a
        jagged value); computes to a float."""
        return Query(self._d.sum(str(expr)), self)

    def to_arrow(self, columns: Optional[Sequence[str]] = None) -> Query:
        """The columns of the selected events, in file and entry order.

        Parameters
        ----------
        columns : list of str, optional
            Branches and defined columns (default: the branches given to
            :func:`read`, or all it can decode, then every defined column).

        Returns
        -------
        Query
            Computes to a ``pyarrow.Table`` when pyarrow is installed; otherwise to a
            dict of NumPy arrays (a jagged column as an object array holding one
            array per event).

        Raises
        ------
        MissingBranchError
            If a column does not exist.
        """
        if isinstance(columns, str):
            columns = [columns]
        cols = None if columns is None else [str(c) for c in columns]
        return Query(self._d.to_arrow(cols), self, output="arrow")

    def to_numpy(self, columns: Optional[Sequence[str]] = None) -> Query:
        """Flat columns of the selected events as NumPy arrays.

        Parameters
        ----------
        columns : list of str, optional
            Columns holding one value per event (default: every such default
            column of :meth:`to_arrow`).

        Returns
        -------
        Query
            Computes to a dict of column name to a 1-D NumPy array (the branch's own
            dtype; defined columns are float64 or bool).

        Raises
        ------
        TypeError
            If a column is jagged (a list per event): reduce it first, e.g.
            ``define("lead_pt", "lep_pt[0]")``, or use :meth:`to_arrow`.
        MissingBranchError
            If a column does not exist.
        """
        if isinstance(columns, str):
            columns = [columns]
        if columns is None:
            cols = [c for c in self._d.default_columns if self._kind(c) == "flat"]
        else:
            cols = [str(c) for c in columns]
            for c in cols:
                kind = self._kind(c)
                if kind == "jagged":
                    raise TypeError(
                        f"column {c!r} is jagged ({self._d.column_type(c)[0]}): to_numpy "
                        "takes columns of one value per event; reduce it first (e.g. "
                        f"define('{c}0', '{c}[0]')) or use to_arrow"
                    )
                if kind == "other":
                    raise TypeError(
                        f"column {c!r} has no NumPy form ({self._d.column_type(c)[0]}); "
                        "use to_arrow"
                    )
        return Query(self._d.to_arrow(cols), self, output="numpy")

    def _kind(self, column: str) -> Optional[str]:
        t = self._d.column_type(column)
        return None if t is None else t[1]

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        nfiles = len(self.files)
        return (
            f"<kaon.ntuple.Dataset: tree {self.tree!r} in {nfiles} file"
            f"{'s' if nfiles != 1 else ''}, {self.num_entries} entries, "
            f"{self.npartitions} partitions, {len(self.steps)} steps>"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("Tree", html.escape(self.tree)),
            ("Files", str(len(self.files))),
            ("Entries", str(self.num_entries)),
            ("Partitions", str(self.npartitions)),
            ("Branches", str(len(self.branches))),
        ]
        steps = "".join(
            f"<li><code>{html.escape(' '.join(s[1:]) if s[0] == 'filter' else s[1] + ' = ' + s[2])}"
            f"</code> ({s[0]})</li>"
            for s in self.steps
        )
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows
        )
        return (
            f"<div class='kaon-ntuple'><b>kaon.ntuple.Dataset</b><table>{body}</table>"
            + (f"<ol>{steps}</ol>" if steps else "")
            + "</div>"
        )


# ---------------------------------------------------------------------- queries
class Query:
    """A lazy result of a selection: a histogram, a count, a sum or a table.

    ``compute()`` runs it on the cluster; :func:`kaon.ntuple.compute` runs several
    in one graph (those on the same selection share one pass over the data).

    Attributes
    ----------
    kind : str
        ``"histogram"``, ``"count"``, ``"sum"`` or ``"table"``.
    dataset : Dataset
        The selection it is computed over.
    """

    def __init__(self, rust: _kaon.NtupleQuery, dataset: Dataset, output: str = "") -> None:
        self._q = rust
        self.dataset = dataset
        self._output = output

    @property
    def kind(self) -> str:
        return self._q.kind

    def compute(self, *, progress: Optional[bool] = None, client: Optional[Client] = None) -> Any:
        """Runs the query on the cluster and returns its result.

        Parameters
        ----------
        progress : bool, optional
            Show a progress bar while waiting (default: in notebooks and terminals,
            for computations that take longer than half a second).
        client : kaon.Client, optional
            Default: the default client (an embedded local cluster is started when
            there is none).

        Returns
        -------
        Histogram, int, float, pyarrow.Table or dict of numpy.ndarray

        Raises
        ------
        kaon.TaskError
            If a task failed on the cluster (``.key`` names it; the message names
            the file, tree and branch).
        KeyboardInterrupt
            On Ctrl-C, after cancelling the computation on the cluster.
        """
        return compute(self, progress=progress, client=client)[0]

    def __repr__(self) -> str:
        return f"<kaon.ntuple.Query: {self._q.describe()}, {self._q.npartitions} partitions>"


def _convert(query: Query, raw: Any) -> Any:
    kind = query.kind
    if kind == "histogram":
        return Histogram._from_raw(raw)
    if kind in ("count", "sum"):
        return raw
    if query._output == "numpy":
        return {name: raw.column(name)[0] for name in raw.column_names}
    try:
        import pyarrow as pa
        import pyarrow.ipc
    except ImportError:
        out: dict[str, np.ndarray] = {}
        for name in raw.column_names:
            values, offsets = raw.column(name)
            if offsets is None:
                out[name] = values
            else:
                jagged = np.empty(raw.num_rows, dtype=object)
                for i in np.arange(raw.num_rows):
                    jagged[i] = values[offsets[i] : offsets[i + 1]]
                out[name] = jagged
        return out
    return pa.ipc.open_stream(raw.ipc()).read_all()


def compute(
    *queries: Any, progress: Optional[bool] = None, client: Optional[Client] = None
) -> tuple:
    """Computes several queries at once, as one graph, like ``dask.compute``.

    Queries on the same selection (the same :func:`read` and the same steps) share
    one pass over the data. Arguments that are not queries are returned as they are.

    Parameters
    ----------
    *queries : Query
    progress : bool, optional
        Show a progress bar while waiting (``False`` turns it off).
    client : kaon.Client, optional
        Default: the default client.

    Returns
    -------
    tuple
        One result per argument.

    Examples
    --------
    >>> mll = sel.histogram("mll", bins=100, range=(0, 500))    # doctest: +SKIP
    >>> h, n = kaon.ntuple.compute(mll, sel.count())            # doctest: +SKIP
    """
    from kaon.client import get_client

    todo = [q for q in queries if isinstance(q, Query)]
    if not todo:
        return tuple(queries)
    if client is None:
        client = get_client()
    client._check_open()
    njob = _kaon.submit_ntuple(client._rust, [q._q for q in todo])
    job = njob.job
    if job is not None:
        tracker = Tracker([job], progress, description="kaon ntuple")
        status = "error"
        try:
            try:
                while not job.wait(0.1):
                    tracker.tick()
                status = "finished"
            except KeyboardInterrupt:
                status = "cancelled"
                job.release()  # stop it on the cluster too
                raise
            finally:
                tracker.close(status)
            raw = njob.fetch()
        finally:
            if status != "cancelled":
                job.release_soon()
    else:
        raw = njob.fetch()
    results = iter(_convert(q, r) for q, r in zip(todo, raw))
    return tuple(next(results) if isinstance(q, Query) else q for q in queries)


# ---------------------------------------------------------------------- histograms
class Axis(NamedTuple):
    """A regular axis of a :class:`Histogram`."""

    #: The expression filled along it.
    expr: str
    bins: int
    low: float
    high: float
    #: ``bins + 1`` edges.
    edges: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)


class Histogram:
    """A filled histogram with regular axes (one or two), with underflow and overflow.

    Values and variances are kept with the flow bins (``bins + 2`` per axis,
    underflow first); the methods take ``flow=`` as uproot and boost-histogram do.
    """

    def __init__(
        self,
        axes: Sequence[Axis],
        values: np.ndarray,
        variances: Optional[np.ndarray] = None,
        weight: Optional[str] = None,
    ) -> None:
        self.axes: tuple[Axis, ...] = tuple(axes)
        shape = tuple(a.bins + 2 for a in self.axes)
        self._values = np.asarray(values, dtype=np.float64).reshape(shape)
        self._variances = (
            None if variances is None else np.asarray(variances, dtype=np.float64).reshape(shape)
        )
        #: The weight expression, or None for counts.
        self.weight = weight

    @classmethod
    def _from_raw(cls, raw: dict) -> Histogram:
        axes = [
            Axis(expr, bins, low, high, edges)
            for (expr, bins, low, high), edges in zip(raw["axes"], raw["edges"])
        ]
        return cls(axes, raw["values"], raw["variances"], raw["weight"])

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Bins per axis (without flow bins)."""
        return tuple(a.bins for a in self.axes)

    @property
    def edges(self) -> Union[np.ndarray, tuple[np.ndarray, ...]]:
        """Bin edges: an array for a 1-D histogram, a tuple of arrays for 2-D."""
        e = tuple(a.edges for a in self.axes)
        return e[0] if len(e) == 1 else e

    @property
    def weighted(self) -> bool:
        """Whether it was filled with weights (and keeps sums of squared weights)."""
        return self._variances is not None

    def _cut(self, a: np.ndarray, flow: bool) -> np.ndarray:
        if flow:
            return a.copy()
        return a[(slice(1, -1),) * a.ndim].copy()

    def values(self, flow: bool = False) -> np.ndarray:
        """Counts, or sums of weights, per bin (with the flow bins: ``flow=True``)."""
        return self._cut(self._values, flow)

    def variances(self, flow: bool = False) -> np.ndarray:
        """Sums of squared weights per bin; for an unweighted histogram these equal
        the counts (Poisson), as in boost-histogram."""
        return self._cut(self._values if self._variances is None else self._variances, flow)

    def errors(self, flow: bool = False) -> np.ndarray:
        """Square roots of :meth:`variances`."""
        return np.sqrt(self.variances(flow))

    def sum(self, flow: bool = False) -> float:
        """The total of :meth:`values`."""
        return float(self.values(flow).sum())

    @property
    def underflow(self) -> float:
        """The underflow bin of a 1-D histogram."""
        self._need_1d("underflow")
        return float(self._values[0])

    @property
    def overflow(self) -> float:
        """The overflow bin (x >= high, and NaN) of a 1-D histogram."""
        self._need_1d("overflow")
        return float(self._values[-1])

    def _need_1d(self, what: str) -> None:
        if self.ndim != 1:
            raise ValueError(f"{what} is defined for 1-D histograms; this one has {self.ndim} axes")

    def to_numpy(self, flow: bool = False) -> tuple[np.ndarray, ...]:
        """``(values, edges...)`` as ``numpy.histogram``/``histogram2d`` give (with
        ``flow=True`` the flow bins' edges are -inf and +inf)."""
        edges = []
        for a in self.axes:
            e = a.edges
            if flow:
                e = np.concatenate([[-np.inf], e, [np.inf]])
            edges.append(e.copy())
        return (self.values(flow), *edges)

    def to_boost(self) -> boost_histogram.Histogram:
        """The histogram as a ``boost_histogram.Histogram`` (Regular axes with flow;
        ``Weight`` storage when weighted, ``Double`` otherwise).

        Raises
        ------
        ImportError
            If boost-histogram is not installed.
        """
        try:
            import boost_histogram as bh
        except ImportError:
            raise ImportError(
                "Histogram.to_boost() needs boost-histogram: pip install boost-histogram"
            ) from None
        axes = [bh.axis.Regular(a.bins, a.low, a.high, metadata=a.expr) for a in self.axes]
        return self._fill_view(bh.Histogram(*axes, storage=self._storage(bh)))

    def to_hist(self) -> hist.Hist:
        """The histogram as a ``hist.Hist`` (axes labelled with their expressions).

        Raises
        ------
        ImportError
            If hist is not installed.
        """
        try:
            import hist as hist_mod
        except ImportError:
            raise ImportError("Histogram.to_hist() needs hist: pip install hist") from None
        default = ["x", "y"]
        axes = [
            hist_mod.axis.Regular(
                a.bins,
                a.low,
                a.high,
                name=a.expr if a.expr.isidentifier() else default[i],
                label=a.expr,
            )
            for i, a in enumerate(self.axes)
        ]
        return self._fill_view(hist_mod.Hist(*axes, storage=self._storage(hist_mod)))

    def _storage(self, module: Any) -> Any:
        return module.storage.Weight() if self.weighted else module.storage.Double()

    def _fill_view(self, h: Any) -> Any:
        view = h.view(flow=True)
        if self.weighted:
            view.value = self._values
            view.variance = self._variances
        else:
            view[...] = self._values
        return h

    def to_root(self, path: PathLike, name: str = "h", title: Optional[str] = None) -> None:
        """Writes a 1-D histogram as a ``TH1D`` named ``name`` into a new ROOT file
        (with its sums of squared weights when weighted); uproot and ROOT read it.

        Raises
        ------
        ValueError
            For a 2-D histogram.
        OSError
            If the file cannot be written.
        """
        self._need_1d("to_root")
        a = self.axes[0]
        _kaon.write_th1d(
            os.fspath(path),
            str(name),
            a.expr if title is None else str(title),
            (a.expr, a.bins, a.low, a.high),
            self._values.tolist(),
            None if self._variances is None else self._variances.tolist(),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            [a[:4] for a in self.axes] == [a[:4] for a in other.axes]
            and np.array_equal(self._values, other._values)
            and (
                (self._variances is None and other._variances is None)
                or (
                    self._variances is not None
                    and other._variances is not None
                    and np.array_equal(self._variances, other._variances)
                )
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        axes = ", ".join(f"{a.expr!r}: {a.bins} bins [{a.low:g}, {a.high:g})" for a in self.axes)
        w = f", weight={self.weight!r}" if self.weight else ""
        return f"Histogram({axes}{w}; sum={self.sum():g}, with flow={self.sum(flow=True):g})"

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        if self.ndim != 1:
            return f"<div class='kaon-histogram'><code>{head}</code></div>"
        # A small SVG bar plot of the regular bins.
        v = self.values()
        top = float(v.max()) if v.size and v.max() > 0 else 1.0
        width, height = 300, 100
        bw = width / max(len(v), 1)
        bars = "".join(
            f"<rect x='{i * bw:.2f}' y='{height - height * y / top:.2f}' width='{bw:.2f}' "
            f"height='{height * y / top:.2f}' fill='steelblue'/>"
            for i, y in enumerate(v)
            if y > 0
        )
        a = self.axes[0]
        return (
            f"<div class='kaon-histogram'><code>{head}</code><br>"
            f"<svg width='{width}' height='{height + 14}' style='border-bottom:1px solid #888'>"
            f"{bars}<text x='0' y='{height + 12}' font-size='10'>{a.low:g}</text>"
            f"<text x='{width}' y='{height + 12}' font-size='10' text-anchor='end'>{a.high:g}"
            f"</text></svg><div>{html.escape(a.expr)}</div></div>"
        )
