"""``python -m kaon.scheduler``: a Kaon scheduler, as ``kaon scheduler`` runs it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Optional

from kaon import _kaon


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m kaon.scheduler",
        description="Run a scheduler: clients and workers connect to it.",
    )
    p.add_argument("--host", default=env("KAON_HOST", "127.0.0.1"), help="[KAON_HOST]")
    p.add_argument(
        "--port",
        type=int,
        default=int(env("KAON_SCHEDULER_PORT", "8786")),
        help="gRPC port (0: any free port) [KAON_SCHEDULER_PORT]",
    )
    p.add_argument(
        "--dashboard-port",
        type=int,
        default=int(env("KAON_DASHBOARD_PORT", "8787")),
        help="dashboard port (0: any free port) [KAON_DASHBOARD_PORT]",
    )
    p.add_argument(
        "--worker-ttl",
        type=float,
        default=float(env("KAON_WORKER_TTL", "10")),
        help="seconds without heartbeat before a worker is removed [KAON_WORKER_TTL]",
    )
    p.add_argument(
        "--allowed-failures",
        type=int,
        default=int(env("KAON_ALLOWED_FAILURES", "3")),
        help="workers a task may crash before it fails [KAON_ALLOWED_FAILURES]",
    )
    return p


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Optional[list[str]] = None) -> int:
    """Runs a scheduler until SIGINT or SIGTERM."""
    a = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        s = _kaon.Scheduler(a.host, a.port, a.dashboard_port, a.worker_ttl, a.allowed_failures)
    except (OSError, ValueError) as e:
        print(f"kaon scheduler: {e}", file=sys.stderr)
        return 1
    print(f"Scheduler at {s.address}", flush=True)
    print(f"Dashboard at {s.dashboard_link}", flush=True)
    try:
        s.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
