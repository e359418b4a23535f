"""Progress displays: tqdm on stderr in a terminal, a text bar without tqdm, nothing
with progress=False, and kaon.progress() on futures and arrays."""

from __future__ import annotations

import builtins
import importlib
import io
import re

import pytest

import kaon
import kaon.array as ka

progress_module = importlib.import_module("kaon.progress")


def _work():
    return ka.random.random((4000, 2000), chunks=(250, 500), seed=1).sum(axis=0)


def _final_count(text: str) -> tuple[int, int]:
    counts = re.findall(r"(\d+)/(\d+)", text)
    assert counts, text
    done, total = counts[-1]
    return int(done), int(total)


def test_compute_shows_a_tqdm_bar_on_stderr(client, capsys):
    x = _work()
    tasks = x._h.graph_summary()[0]
    x.compute(progress=True)
    err = capsys.readouterr().err
    assert "kaon" in err and "100%" in err and "tasks" in err
    assert _final_count(err) == (tasks, tasks)


def test_progress_false_and_default_outside_a_terminal_show_nothing(client, capsys):
    x = _work()
    x.compute(progress=False)
    x.compute()  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""


def test_a_plain_text_bar_without_tqdm(client, monkeypatch):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm" or name.startswith("tqdm."):
            raise ImportError("no tqdm here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    out = io.StringIO()
    bar = progress_module.make_display(10, "kaon", notebook=False, file=out)
    assert isinstance(bar, progress_module._TextBar)
    bar.update(4, 10)
    bar.update(10, 10)
    bar.close("finished")
    assert "4/10 tasks" in out.getvalue() and "100% 10/10 tasks" in out.getvalue()


def test_progress_of_futures_and_arrays(client, capsys):
    f = client.compute(_work())
    kaon.progress(f)  # blocks until done, drawing on stderr
    assert f.done()
    err = capsys.readouterr().err
    done, total = _final_count(err)
    assert done == total > 0
    p = _work().persist()
    kaon.progress([p])
    assert p._future.done()
    lazy = _work()
    kaon.progress(lazy)  # starts it, and keeps the result with the array
    assert lazy._future is not None and lazy._future.done()
    assert lazy.compute().shape == (2000,)
    assert _final_count(capsys.readouterr().err)[0] > 0
    with pytest.raises(TypeError):
        kaon.progress(42)


def test_a_failed_computation_closes_its_bar(client, capsys):
    from kaon._testing import failing_array

    x = ka.random.random((600, 4000), chunks=(200, 1000), seed=1).sum(axis=1, keepdims=True)
    with pytest.raises(kaon.TaskError):
        (x + failing_array((600, 1), chunks=(200, 1), message="boom")).compute(progress=True)
    err = capsys.readouterr().err
    assert "error" in err and "100%" not in err
