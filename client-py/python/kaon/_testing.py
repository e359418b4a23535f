"""Helpers for tests of error handling and recovery (not part of the public API)."""

from __future__ import annotations

from typing import Any, Optional

from kaon import _kaon
from kaon.array.chunks import ChunksLike, normalize_chunks, normalize_shape
from kaon.array.core import Array


def failing_array(
    shape: Any, chunks: ChunksLike, message: Optional[str] = None, exit_worker: bool = False
) -> Array:
    """An array whose every chunk fails: with ``message``, the kernel raises it; with
    ``exit_worker``, the worker process exits (only workers started with fault
    injection allowed do, e.g. ``env={"KAON_ALLOW_FAULT_INJECTION": "1"}``)."""
    c = normalize_chunks(chunks, normalize_shape(shape))
    return Array(_kaon.Array.fault([list(x) for x in c], message, exit_worker))
