"""The dashboard in a real headless Chromium: the figures it shows match the topics."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.broker_support import Cluster, TopicReader, free_port
from workers.demo import synthetic
from workers.demo.accounting import account
from workers.demo.run import Reader, load_reference, produce_sessions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
TOKEN = "test-dashboard-token-0123456789"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="Debian chromium and chromium-driver are not installed"
)


def count(bootstrap: str, topic: str) -> int:
    reader = TopicReader(bootstrap, topic)
    try:
        return len(reader.settle(quiet=1.0))
    finally:
        reader.close()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def text(driver, element_id: str, timeout: float = 30.0) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        value = driver.find_element(By.ID, element_id).text
        if value not in ("", "-"):
            return str(value)
        if time.monotonic() > deadline:
            raise AssertionError(f"#{element_id} never filled in")
        time.sleep(0.2)


def test_the_dashboard_shows_what_the_topics_say(cluster: Cluster, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    c = cluster
    settings = c.settings()
    data = synthetic.generate(clinics=2, sessions=40, seed=5)
    load_reference(settings, data, c.producer)
    port = free_port()
    worker = c.start_worker(
        "all",
        CLAIMS_DASHBOARD_TOKEN=TOKEN,
        CLAIMS_WEB_PORT=str(port),
        CLAIMS_OUTBOX_DIR=str(tmp_path / "outbox"),
        CLAIMS_CLAIMS_TICK_INTERVAL_S="0.5",
    )
    produce_sessions(settings, data, c.producer)
    reader = Reader(settings)
    deadline = time.monotonic() + 120
    while True:
        reader.poll()
        acc = account(reader.data)
        if acc.sessions["received"] >= data.expected["completed_events"] and acc.pending == 0:
            break
        assert time.monotonic() < deadline, f"pipeline did not finish: {acc.sessions}"
        time.sleep(0.5)
    base = f"http://127.0.0.1:{port}/claims"

    # no anonymous access
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(base + "/api/dashboard")
    assert denied.value.code == 401

    driver = browser()
    try:
        driver.get(f"{base}/dashboard/login?token={TOKEN}")
        assert driver.title.startswith("claims engine")
        expected_dlq = count(c.bootstrap, c.topic("sessions.completed.dlq"))
        submitted = {
            json.loads(m.value)["patient_control_number"]
            for m in TopicReader(c.bootstrap, c.topic("claims.submitted")).settle(1.0)
        }
        # every session having an outcome is not the end: a session held at first
        # (the worker starts as the sessions arrive) is released a moment later, so
        # the held queue is compared with the topics as they are then, until both agree
        deadline = time.monotonic() + 60
        while True:
            shown_dlq = text(driver, "dlq-total")
            shown_claims = text(driver, "claims-count")
            shown_held = text(driver, "queue-sessions-held")
            reader.poll()
            held = account(reader.data).sessions["held"]
            if (shown_dlq, shown_claims, shown_held) == (
                str(expected_dlq),
                str(len(submitted)),
                str(held),
            ):
                break
            assert time.monotonic() < deadline, (
                (shown_dlq, expected_dlq),
                (shown_claims, len(submitted)),
                (shown_held, held),
            )
            time.sleep(0.5)
        # drill down from each (topic, reason) row to its dead letters
        groups = driver.find_elements(By.CSS_SELECTOR, "#dlq-table tbody tr")
        assert sum(int(g.find_elements(By.TAG_NAME, "td")[2].text) for g in groups) == expected_dlq
        first = groups[0].find_elements(By.TAG_NAME, "td")
        expected_rows = int(first[2].text)
        first[0].find_element(By.TAG_NAME, "a").click()
        deadline = time.monotonic() + 15
        while len(driver.find_elements(By.CSS_SELECTOR, "#dlq-messages tbody tr")) != expected_rows:
            assert time.monotonic() < deadline, "drill-down did not render its dead letters"
            time.sleep(0.2)
        page = driver.page_source
        for patient in data.patients:
            assert patient["name"]["last_name"] not in page, "no patient data on the dashboard"
    finally:
        driver.quit()
        reader.close()
    assert worker.proc is not None and worker.proc.poll() is None
