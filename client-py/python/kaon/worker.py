"""``python -m kaon.worker SCHEDULER_ADDR``: a Kaon worker, as ``kaon worker`` runs it.

Local clusters with ``processes=True`` start their workers this way, so they need no
``kaon`` binary on PATH. Flags fall back to the same ``KAON_*`` variables as the binary.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Optional

from kaon import _kaon

_TRUE = {"1", "true", "yes", "on"}


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m kaon.worker",
        description="Run a worker that executes tasks for a scheduler.",
    )
    p.add_argument(
        "scheduler",
        nargs="?",
        default=env("KAON_SCHEDULER_ADDRESS"),
        help="the scheduler's address, host:port [KAON_SCHEDULER_ADDRESS]",
    )
    p.add_argument(
        "--nthreads",
        type=int,
        default=int(env("KAON_NTHREADS", "0")) or None,
        help="kernel threads (default: all cores) [KAON_NTHREADS]",
    )
    p.add_argument(
        "--memory-limit",
        default=env("KAON_MEMORY_LIMIT", "auto"),
        help="bytes, a size such as 4GB, or auto [KAON_MEMORY_LIMIT]",
    )
    p.add_argument(
        "--name",
        default=env("KAON_WORKER_NAME"),
        help="name shown in cluster info and errors [KAON_WORKER_NAME]",
    )
    p.add_argument(
        "--host",
        default=env("KAON_WORKER_HOST", "127.0.0.1"),
        help="interface of this worker's data service [KAON_WORKER_HOST]",
    )
    p.add_argument(
        "--data-port",
        type=int,
        default=int(env("KAON_DATA_PORT", "0")),
        help="port of the data service (0: any) [KAON_DATA_PORT]",
    )
    p.add_argument(
        "--spill-dir",
        default=env("KAON_SPILL_DIR"),
        help="directory for spilled chunks [KAON_SPILL_DIR]",
    )
    p.add_argument(
        "--allow-fault-injection",
        action="store_true",
        default=env("KAON_ALLOW_FAULT_INJECTION", "").lower() in _TRUE,
        help=argparse.SUPPRESS,
    )
    return p


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Optional[list[str]] = None) -> int:
    """Runs a worker until SIGINT or SIGTERM."""
    args = _parser().parse_args(argv)
    if not args.scheduler:
        _parser().error("the scheduler's address is required (or KAON_SCHEDULER_ADDRESS)")
    signal.signal(signal.SIGTERM, _stop)
    try:
        _kaon.run_worker(
            args.scheduler,
            args.nthreads or _kaon.cpu_count(),
            args.memory_limit,
            name=args.name,
            host=args.host,
            data_port=args.data_port,
            spill_dir=args.spill_dir,
            allow_fault_injection=args.allow_fault_injection,
        )
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, ValueError) as e:
        print(f"kaon worker: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
