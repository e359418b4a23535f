"""The dashboard's JSON API against its documented schema (docs/dashboard-api.schema.json),
/metrics as Prometheus text, the path prefix, and the token on changing endpoints."""

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_dashboard import kaon_binary, local_cluster, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "dashboard-api.schema.json").read_text())


def check(instance, definition):
    jsonschema.validate(instance, {**SCHEMA, "$ref": f"#/$defs/{definition}"})


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def post(url, body, token=None):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture()
def cluster():
    with local_cluster(
        "--dashboard-prefix", "/user/alice/proxy/8787", "--token", "s3cret"
    ) as c:
        yield c


def test_api_follows_its_schema_behind_a_prefix(cluster):
    address, base = cluster
    assert base.endswith("/user/alice/proxy/8787")
    demo = subprocess.run(
        [
            kaon_binary(),
            "demo",
            "--scheduler",
            address,
            "--token",
            "s3cret",
            "--shape",
            "200,100,10",
            "--chunks",
            "20,50,10",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr

    status, ctype, body = get(f"{base}/status")
    assert status == 200 and "text/html" in ctype and "Kaon" in body
    assert '"/user/alice/proxy/8787"' in body  # the page calls its API under the prefix

    _, _, body = get(f"{base}/api/v1/status")
    s = json.loads(body)
    check(s, "status")
    assert s["workers"] == 1 and s["tasks_done_total"] >= 13

    _, _, body = get(f"{base}/api/v1/workers")
    workers = json.loads(body)["workers"]
    for w in workers:
        check(w, "worker")
    assert workers[0]["name"] == "local-0"

    _, _, body = get(f"{base}/api/v1/layers")
    for g in json.loads(body)["graphs"]:
        check(g, "graph")

    # The event stream's first message is a full snapshot.
    with urllib.request.urlopen(f"{base}/api/v1/events", timeout=10) as r:
        line = b""
        while not line.startswith(b"data:"):
            line = r.readline()
        check(json.loads(line[5:]), "snapshot")

    _, _, body = get(f"{base}/individual-plots.json")
    plots = json.loads(body)
    assert (
        plots["Individual Task Stream"]
        == "/user/alice/proxy/8787/individual-task-stream"
    )
    assert get(f"http://{base.split('/')[2]}{plots['Individual Progress']}")[0] == 200

    # Prometheus text parses, and carries the documented families.
    _, ctype, text = get(f"{base}/metrics")
    assert ctype.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "kaon_scheduler_tasks",
        "kaon_scheduler_transitions",
        "kaon_scheduler_workers",
        "kaon_scheduler_desired_workers",
        "kaon_worker_memory_bytes",
        "kaon_worker_spilled_bytes",
        "kaon_worker_transfer_bytes",
    ):
        assert name in families, f"{name} missing from /metrics"
    workers_metric = [s.value for s in families["kaon_scheduler_workers"].samples]
    assert workers_metric == [1.0]

    assert get(f"{base}/health")[2] == "ok"


def test_changing_endpoints_need_the_token(cluster):
    _, base = cluster
    code, body = post(f"{base}/api/v1/scale", {"n": 2})
    assert code == 401 and "token" in body["error"]
    code, body = post(
        f"{base}/api/v1/adapt", {"minimum": 1, "maximum": 2}, token="wrong"
    )
    assert code == 401
    code, body = post(
        f"{base}/api/v1/adapt", {"minimum": 3, "maximum": 2}, token="s3cret"
    )
    assert code == 400 and "3" in body["error"]
    code, body = post(f"{base}/api/v1/scale", {"workers": 2}, token="s3cret")
    assert code in (400, 422)
    code, body = post(f"{base}/api/v1/scale", {"n": 2}, token="s3cret")
    assert code == 200, body
    check(body, "scale_reply")
    assert body["desired"] == 2
    wait_for(
        lambda: json.loads(get(f"{base}/api/v1/status")[2])["workers"] == 2,
        what="the second worker",
    )
    code, body = post(f"{base}/api/v1/adapt", {"active": False}, token="s3cret")
    assert code == 200 and "off" in body["message"]
    time.sleep(0.1)
