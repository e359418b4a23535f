"""The public API is documented: every public name has a NumPy-style docstring (a
summary sentence, and a ``Parameters`` section when it takes arguments), and the
examples in the docstrings run (those not marked ``# doctest: +SKIP``, which need a
cluster), so they cannot rot.

The names come from ``__all__`` at run time (of ``kaon``, ``kaon.array`` and
``kaon.array.random``), with the public methods and properties of the classes among
them, so a function added later is checked too; the doctests are those of every module
of the package. No cluster is started.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import pydoc
import re
import types
from collections.abc import Iterator
from typing import Any

import pytest

import kaon
import kaon.array as ka

#: Modules whose ``__all__`` is the public API checked here. (``kaon.ntuple`` and the
#: gateway module have their own conventions; their names that ``kaon`` re-exports,
#: such as ``kaon.Gateway``, are checked.)
MODULES = ("kaon", "kaon.array", "kaon.array.random")

#: Modules of the package that are programs, not library code (never imported here).
PROGRAMS = {"kaon.worker", "kaon.scheduler"}


def _public_modules() -> list[types.ModuleType]:
    return [importlib.import_module(m) for m in MODULES]


def _public_names() -> Iterator[tuple[str, Any]]:
    """``(qualified name, object)`` for every public name: the ``__all__`` entries of the
    public modules, and the public methods and properties of the public classes."""
    seen: set[int] = set()
    for m in _public_modules():
        yield m.__name__, m
        for name in m.__all__:
            obj = getattr(m, name)
            if isinstance(obj, types.ModuleType):
                yield obj.__name__, obj  # its docstring (not its names, unless in MODULES)
                continue
            if not callable(obj):
                continue  # data: __version__, UFUNCS
            qual = f"{m.__name__}.{name}"
            yield qual, obj
            if isinstance(obj, type) and id(obj) not in seen:
                seen.add(id(obj))
                yield from _members(qual, obj)


def _members(qual: str, cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties that ``cls`` (or a kaon base class) defines."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("kaon"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in vars(cls) and klass is not cls:
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            if isinstance(attr, property) or inspect.isfunction(attr):
                yield f"{qual}.{name}", attr


PUBLIC = dict(_public_names())
#: The methods and properties among them.
MEMBERS = {q for q, v in PUBLIC.items() if inspect.isfunction(v) and "." in v.__qualname__}
MEMBERS |= {q for q, v in PUBLIC.items() if isinstance(v, property)}


def _is_exception(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseException)


def _parameters(obj: Any) -> list[str]:
    """The parameters a caller passes (not ``self``, not ``**kwargs`` alone)."""
    if isinstance(obj, property) or isinstance(obj, types.ModuleType) or _is_exception(obj):
        return []
    target = obj.__init__ if isinstance(obj, type) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.name not in ("self", "cls")
        and p.kind is not inspect.Parameter.VAR_KEYWORD
        # ``*args`` may stand for parameters given by position (``arange(start, stop)``)
        and not (p.kind is inspect.Parameter.VAR_POSITIONAL and p.name == "args")
    ]


def _docstring(qual: str, obj: Any) -> str:
    doc = obj.__doc__ if isinstance(obj, property) else inspect.getdoc(obj)
    if isinstance(obj, type) and doc == inspect.getdoc(obj.__mro__[1]):
        return ""  # inherited from the base class: not its own
    return inspect.cleandoc(doc or "")


def _summary(qual: str, doc: str) -> str:
    """The first paragraph, after a leading signature line such as ``sin(x, /)``."""
    paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
    if paragraphs and re.match(r"[\w.]+\(.*\)$", paragraphs[0].split("\n")[0]):
        first, _, rest = paragraphs[0].partition("\n")
        paragraphs = ([rest.strip()] if rest.strip() else []) + paragraphs[1:]
    return paragraphs[0] if paragraphs else ""


#: What a short docstring may say instead of a Parameters section: a method that
#: forwards to a documented function says so (like ``numpy.ndarray.sum``).
DELEGATES = re.compile(r"[Ss]ee :(func|meth|class):`|[Ss]ee ``[\w.]+``|[Ss]ame as :")


def test_the_public_names_were_found() -> None:
    assert "kaon.array.sum" in PUBLIC and "kaon.Client" in PUBLIC
    assert "kaon.array.random.normal" in PUBLIC and "kaon.array.sin" in PUBLIC
    assert "kaon.Client.compute" in PUBLIC and "kaon.array.Array.sum" in PUBLIC
    missing = [
        n for n in ka.__all__ if callable(getattr(ka, n)) and f"kaon.array.{n}" not in PUBLIC
    ]
    assert not missing


@pytest.mark.parametrize("qual", sorted(PUBLIC))
def test_public_name_has_a_numpy_style_docstring(qual: str) -> None:
    obj = PUBLIC[qual]
    doc = _docstring(qual, obj)
    assert doc, f"{qual} has no docstring"
    summary = _summary(qual, doc)
    assert summary, f"{qual}: the docstring has no summary line"
    assert summary.rstrip("`)*").endswith((".", ":")), (
        f"{qual}: the summary should be a sentence ending with a period: {summary!r}"
    )
    params = _parameters(obj)
    if not params:
        return
    if qual in MEMBERS and DELEGATES.search(doc) and "\n" not in summary.strip():
        return  # "Sum over axis; see :func:`kaon.array.sum`."
    assert re.search(r"^Parameters\n-{10}", doc, re.M), (
        f"{qual} takes {', '.join(params)} but its docstring has no 'Parameters' section"
    )
    # Each parameter is described (``x1, x2 : Array`` counts for both).
    listed = set()
    for line in re.findall(r"^(\**\w[\w, *]*?) :", doc, re.M) + re.findall(
        r"^(\**\w+)$", doc, re.M
    ):
        listed.update(p.strip().lstrip("*") for p in line.split(","))
    missing = [p for p in params if p not in listed]
    assert not missing, f"{qual}: Parameters does not describe {', '.join(missing)}"


@pytest.mark.parametrize("qual", sorted(PUBLIC))
def test_public_signature_is_annotated(qual: str) -> None:
    """Every parameter and the result of a public callable have type hints."""
    obj = PUBLIC[qual]
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, types.ModuleType) or _is_exception(obj):
        return
    target = obj.__init__ if isinstance(obj, type) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty
    ]
    assert not missing, f"{qual}: no type hint for {', '.join(missing)}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{qual}: no return type"


def test_help_of_sum_explains_axis() -> None:
    text = pydoc.render_doc(ka.sum)
    assert "axis" in text and "Parameters" in text
    assert "dask.array.sum" in text or "numpy.sum" in text


def test_ufuncs_have_their_own_descriptions() -> None:
    """Each generated ufunc says what it computes, not a text shared by all."""
    summaries = {n: _summary(n, inspect.getdoc(getattr(ka, n)) or "") for n in ka.UFUNCS}
    assert len(set(summaries.values())) == len(summaries), "ufuncs share a summary"
    assert "arcsin" in pydoc.render_doc(ka.arcsin)
    assert "[-1, 1]" in (ka.arcsin.__doc__ or "")
    # A ufunc the extension gained needs a line in the table (NumPy's summary is the
    # stopgap that keeps the docstring from being empty).
    from kaon.array import ufuncs

    assert not set(ka.UFUNCS) - set(ufuncs._TABLE), "ufuncs missing from ufuncs._TABLE"


# ---------------------------------------------------------------------- doctests
def _package_modules() -> list[types.ModuleType]:
    mods = [kaon]
    for info in pkgutil.walk_packages(kaon.__path__, "kaon."):
        if info.name in PROGRAMS or info.name.rpartition(".")[2].startswith("_"):
            continue
        mods.append(importlib.import_module(info.name))
    return mods


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    parser = doctest.DocTestParser()
    tests: dict[str, doctest.DocTest] = {}
    for m in _package_modules():
        for t in finder.find(m):
            tests.setdefault(t.name, t)
    # Objects that are neither functions nor classes (the generated ufuncs): the finder
    # does not look at their docstrings.
    seen: set[int] = set()
    for qual, obj in PUBLIC.items():
        if inspect.isroutine(obj) or isinstance(obj, (type, property, types.ModuleType)):
            continue
        if id(obj) in seen:
            continue  # an alias (``abs`` of ``absolute``)
        seen.add(id(obj))
        doc = getattr(obj, "__doc__", None)
        if doc and ">>>" in doc and qual not in tests:
            tests[qual] = parser.get_doctest(doc, {}, qual, None, 0)
    return sorted((t for t in tests.values() if t.examples), key=lambda t: t.name)


DOCTESTS = _doctests()


def test_there_are_examples_to_run() -> None:
    names = {t.name for t in DOCTESTS}
    assert "kaon.array.reductions.sum" in names and "kaon.array.sin" in names


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples_run(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    out: list[str] = []
    test.globs = dict(test.globs)  # examples do not leak into the modules
    runner.run(test, out=out.append, clear_globs=True)
    failed = runner.summarize(verbose=False).failed
    assert not failed, "".join(out)
