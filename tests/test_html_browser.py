"""The HTML report in a real headless browser: every section renders, the console stays clean.

Needs Debian's chromium (installed by .ci/run); skipped with the reason when absent.
"""

import shutil
import subprocess
import sys

import pytest

from tests.factory import SAMPLE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian: chromium)")
SECTIONS = [
    "causes",
    "matrix",
    "charts",
    "kpis",
    "latency",
    "members",
    "elections",
    "requests",
    "correlation",
    "capacity",
    "findings",
    "recommendations",
    "data-quality",
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "etcd_perf.analyze.cli",
            "analyze",
            str(SAMPLE),
            "--export-html",
            "--output",
            str(out / "o"),
        ],
        capture_output=True,
        timeout=120,
    )
    return out / "o" / "performance_report.html", out


def chromium(args, profile):
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


def test_every_section_renders_and_the_console_is_clean(report):
    html, tmp = report
    r = chromium(["--dump-dom", html.as_uri()], tmp / "profile-dom")
    dom = r.stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    assert dom.count("<svg") >= 2  # charts drawn inline
    console = [
        line
        for line in r.stderr.splitlines()
        if "CONSOLE" in line or "Content Security Policy" in line or "Refused to" in line
    ]
    assert console == [], console


def test_screenshot_on_a_laptop_and_a_phone(report):
    html, tmp = report
    for name, size in (("laptop", "1366,3000"), ("phone", "390,4000")):
        shot = tmp / f"{name}.png"
        chromium([f"--window-size={size}", f"--screenshot={shot}", html.as_uri()], tmp / f"profile-{name}")
        assert shot.exists() and shot.stat().st_size > 20_000, name
