"""Real components for the gateway's tests: a JupyterHub (pip package, own venv) and a
``kaon gateway`` process, each started here and stopped by PID.

Used by ``client-py/tests/gateway_fixtures.py`` and ``tests/gateway/test_reana.py``;
also runnable by hand::

    python tests/gateway/support.py hub DIR      # runs a hub until Ctrl-C

Nothing here is specific to pytest.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
HUB_VENV = HERE / ".hub-venv"
HUB_CONFIG = HERE / "jupyterhub_config.py"
SERVICE_NAME = "kaon-gateway"


def ensure_venv(
    path: pathlib.Path, packages: list[str], timeout: float = 600
) -> pathlib.Path:
    """A virtual environment at ``path`` holding ``packages`` (installed once; a marker
    file records what). Returns its ``bin`` directory."""
    marker = path / ".kaon-ok"
    want = " ".join(packages)
    if marker.exists() and marker.read_text() == want:
        return path / "bin"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    subprocess.run(
        [
            str(path / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *packages,
        ],
        check=True,
        timeout=timeout,
    )
    marker.write_text(want)
    return path / "bin"


def free_port(pairs: int = 1) -> int:
    """A port ``p`` such that ``p .. p + pairs - 1`` are free now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + pairs > 65535:
            continue
        ok = True
        for q in range(p + 1, p + pairs):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise RuntimeError("no free port")


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict | None = None,
    timeout: float = 10,
) -> tuple[int, Any]:
    """``(status, JSON or text)`` of one request; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(
    cond, timeout: float, what: str, proc: subprocess.Popen | None = None, log=None
):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            text = pathlib.Path(log).read_text()[-3000:] if log else ""
            raise RuntimeError(
                f"{what}: the process exited with {proc.returncode}\n{text}"
            )
        if time.monotonic() > deadline:
            text = pathlib.Path(log).read_text()[-3000:] if log else ""
            raise TimeoutError(
                f"timed out after {timeout} s waiting for {what}\n{text}"
            )
        time.sleep(0.1)


def stop_pid(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; only this process."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Hub:
    """A running JupyterHub (users alice and bob, service ``kaon-gateway``)."""

    def __init__(self, workdir: pathlib.Path, port: int | None = None) -> None:
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port(pairs=2)
        self.api_url = f"http://127.0.0.1:{self.port}/hub/api"
        self.service_token = secrets.token_hex(20)
        self.service_name = SERVICE_NAME
        self.log = self.workdir / "jupyterhub.log"
        bindir = ensure_venv(HUB_VENV, ["jupyterhub"])
        env = {
            **os.environ,
            "KAON_HUB_DIR": str(self.workdir),
            "KAON_HUB_PORT": str(self.port),
            "KAON_HUB_SERVICE_TOKEN": self.service_token,
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(bindir / "jupyterhub"), "-f", str(HUB_CONFIG)],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(
                lambda: http("GET", self.api_url + "/", timeout=2)[0] == 200,
                60,
                f"JupyterHub at {self.api_url}",
                self.proc,
                self.log,
            )
        except BaseException:
            self.stop()
            raise

    def _auth(self) -> dict:
        return {"Authorization": f"token {self.service_token}"}

    def mint(
        self, user: str, expires_in: int = 600, scopes: list | None = None
    ) -> dict:
        """A new API token of ``user``: ``{"token", "id", ...}``. Default scopes: access
        to the gateway service and reading the user's own name."""
        if scopes is None:
            scopes = [
                f"access:services!service={self.service_name}",
                f"read:users:name!user={user}",
            ]
        status, answer = http(
            "POST",
            f"{self.api_url}/users/{user}/tokens",
            {"note": "kaon-test", "expires_in": expires_in, "scopes": scopes},
            self._auth(),
        )
        if status != 201:
            raise RuntimeError(f"minting a token for {user}: {status} {answer}")
        return answer

    def token(self, user: str, **kw: Any) -> str:
        return self.mint(user, **kw)["token"]

    def revoke(self, user: str, token_id: str) -> None:
        status, answer = http(
            "DELETE",
            f"{self.api_url}/users/{user}/tokens/{token_id}",
            headers=self._auth(),
        )
        if status != 204:
            raise RuntimeError(
                f"revoking token {token_id} of {user}: {status} {answer}"
            )

    def whoami(self, token: str) -> tuple[int, Any]:
        return http(
            "GET", self.api_url + "/user", headers={"Authorization": f"token {token}"}
        )

    def stop(self) -> None:
        stop_pid(self.proc)


class GatewayProcess:
    """A ``kaon gateway`` subprocess listening on a free port.

    Parameters
    ----------
    kaon : path
        The ``kaon`` binary.
    workdir : path
        For its database, configuration and log.
    args : list
        Further arguments, e.g. ``["--auth", "simple", "--config", CFG]``.
    env : dict
        Further environment, e.g. the hub's ``JUPYTERHUB_API_URL``.
    """

    def __init__(
        self,
        kaon: pathlib.Path,
        workdir: pathlib.Path,
        args: list,
        env: dict | None = None,
    ) -> None:
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.log = self.workdir / "gateway.log"
        cmd = [
            str(kaon),
            "gateway",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--db",
            str(self.workdir / "gateway.sqlite"),
            *[str(a) for a in args],
        ]
        full_env = {**os.environ, "KAON_LOG": os.environ.get("KAON_LOG", "info")}
        for k in ("KAON_GATEWAY_ADDRESS", "JUPYTERHUB_API_TOKEN", "KAON_TOKEN"):
            full_env.pop(k, None)
        full_env.update(env or {})
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(
                lambda: (
                    http("GET", self.address + "/api/v1/health", timeout=2)[0] == 200
                ),
                60,
                f"kaon gateway at {self.address}",
                self.proc,
                self.log,
            )
        except BaseException:
            self.stop()
            raise

    def health(self) -> Any:
        return http("GET", self.address + "/api/v1/health")[1]

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def stop(self) -> None:
        stop_pid(self.proc, grace=20)


def hash_password(kaon: pathlib.Path, password: str) -> str:
    """An argon2 hash from ``kaon gateway hash-password`` (password on stdin)."""
    r = subprocess.run(
        [str(kaon), "gateway", "hash-password"],
        check=False,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        raise RuntimeError(f"kaon gateway hash-password failed: {r.stderr}")
    return r.stdout.strip().splitlines()[-1].strip()


def kaon_binary() -> pathlib.Path:
    """target/debug/kaon or target/release/kaon, whichever is newer."""
    found = [REPO / "target" / p / "kaon" for p in ("debug", "release")]
    found = [p for p in found if p.exists()]
    if not found:
        raise FileNotFoundError("no target/debug/kaon: run `cargo build -p kaon-cli`")
    return max(found, key=lambda p: p.stat().st_mtime)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "hub":
        sys.exit("usage: support.py hub DIR")
    hub = Hub(pathlib.Path(sys.argv[2]))
    print(f"JupyterHub at {hub.api_url}; service token {hub.service_token}")
    for u in ("alice", "bob"):
        print(f"  {u}: {hub.token(u)}")
    try:
        hub.proc.wait()
    except KeyboardInterrupt:
        hub.stop()
