"""The dashboard in a real browser: headless Chromium driven by Selenium.

A `kaon local` cluster runs the seed expression (`kaon demo --scheduler`) while the
test loads /status, checks that the progress bar advances and the worker table lists
the workers, and presses the scale control; the number of worker processes must follow.
A screenshot is saved to test-artifacts/dashboard.png.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def kaon_binary() -> str:
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "kaon"
        if p.exists():
            return str(p)
    raise RuntimeError("build the kaon binary first (cargo build -p kaon-cli)")


def worker_pids(dashboard: str) -> list[int]:
    with urllib.request.urlopen(f"{dashboard}/api/v1/workers", timeout=5) as r:
        return [w["pid"] for w in json.load(r)["workers"] if not w["retiring"]]


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def local_cluster(*extra: str):
    """`kaon local` with one worker on free ports; yields (scheduler address, dashboard
    base URL) and stops it with Ctrl-C."""
    proc = subprocess.Popen(
        [kaon_binary(), "local", "--workers", "1", "--threads-per-worker", "1"]
        + ["--port", "0", "--dashboard-port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        address = proc.stdout.readline().strip().removeprefix("Scheduler at ")
        status = proc.stdout.readline().strip().removeprefix("Dashboard at ")
        assert re.match(r"http://127\.0\.0\.1:\d+(/.*)?/status$", status), status
        yield address, status.removesuffix("/status")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


@pytest.fixture()
def cluster():
    with local_cluster() as c:
        yield c


@pytest.fixture()
def browser():
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={tempfile.mkdtemp()}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
        options=options,
    )
    yield driver
    driver.quit()


def done_counts(driver) -> int:
    # Read in one script: the page redraws its rows on every update, so elements
    # fetched one by one can go stale between calls.
    return driver.execute_script(
        "const c = document.querySelectorAll('#layers .layer .done');"
        "return c.length ? Array.from(c).reduce((s, e) => s + Number(e.textContent), 0) : -1;"
    )


def worker_rows(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#workers tbody tr'))"
        ".map((r) => r.dataset.worker);"
    )


def test_status_page_follows_a_computation_and_scales_the_cluster(cluster, browser):
    address, dashboard = cluster
    # A long computation: 400 chunks of the seed expression.
    demo = subprocess.Popen(
        [
            kaon_binary(),
            "demo",
            "--scheduler",
            address,
            "--shape",
            "4000,1000,100",
            "--chunks",
            "10,1000,100",
            "--repeat",
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        browser.get(f"{dashboard}/status")
        wait_for(
            lambda: browser.find_element(By.ID, "h-conn").text == "live",
            what="live updates",
        )
        # The progress bar advances.
        first = wait_for(
            lambda: done_counts(browser) > 0 and done_counts(browser), what="progress"
        )
        wait_for(
            lambda: done_counts(browser) > first or done_counts(browser) < first,
            what="the progress bar to advance",
        )
        # The worker table lists the worker.
        assert worker_rows(browser) == ["local-0"]
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

        # Scale to 2 workers from the page: a second worker process starts.
        box = browser.find_element(By.ID, "scale-n")
        box.clear()
        box.send_keys("2")
        browser.find_element(By.ID, "scale-apply").click()
        pids = wait_for(
            lambda: len(worker_pids(dashboard)) == 2 and worker_pids(dashboard),
            what="a second worker",
        )
        for pid in pids:
            os.kill(pid, 0)  # real processes
        wait_for(
            lambda: (
                len(browser.find_elements(By.CSS_SELECTOR, "#workers tbody tr")) == 2
            ),
            what="the table to show two workers",
        )

        # And back to 1: one worker retires (its results move first) and its process exits.
        box = browser.find_element(By.ID, "scale-n")
        box.clear()
        box.send_keys("1")
        browser.find_element(By.ID, "scale-apply").click()
        wait_for(lambda: len(worker_pids(dashboard)) == 1, what="a worker to retire")
        gone = set(pids) - set(worker_pids(dashboard))
        assert len(gone) == 1

        def exited(pid):
            try:
                os.kill(pid, 0)
                return False
            except ProcessLookupError:
                return True

        wait_for(
            lambda: all(exited(p) for p in gone), what="the retired process to exit"
        )
        browser.save_screenshot(str(ARTIFACTS / "dashboard-scaled.png"))
        assert demo.wait(timeout=120) == 0, (
            "the computation failed while the cluster scaled"
        )
    finally:
        if demo.poll() is None:
            demo.kill()
