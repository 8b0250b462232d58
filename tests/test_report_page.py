"""The report page in a real browser: Debian's Chromium, headless (installed by .ci/run).

The page is rendered from the hand-checked workbook, loaded from a file:// URL and
checked for console messages (a blocked request or any error shows up there), for
its three charts, and for how it prints. The screenshot and the PDF are kept in
test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import html as lxml_html
from PIL import Image

from tests.report_workbook import AS_OF, build_workbook
from toolkit.manual import load_manual
from toolkit.pipeline import run_source
from toolkit.report.figures import build_report
from toolkit.report.render import render_html
from toolkit.xlsx.source import XlsxSource

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHART_IDS = ("chart-aging", "chart-debtors", "chart-overdue")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page")
    workbook = build_workbook(folder)
    analysis, _ = run_source(XlsxSource(workbook), load_manual(folder / "billing-manual.toml"), AS_OF, write=False)
    target = folder / "report.html"
    target.write_text(render_html(build_report(analysis)), encoding="utf-8")
    return target


def run_chromium(chromium: str, url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium, offline and quiet, logging the page's console to stderr."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        url,
    ]
    env = {**os.environ, "HOME": str(profile)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the browser console (errors, CSP violations, warnings)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_page_loads_without_console_messages_and_shows_three_charts(chromium: str, page: Path, tmp_path: Path) -> None:
    """The loaded page logs nothing to the console and its DOM holds the three SVG charts with their bars."""
    result = run_chromium(chromium, page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert console_messages(result.stderr) == []
    dom = lxml_html.fromstring(result.stdout)
    assert dom.findtext(".//h1") == "Receivables report"
    charts = {svg.get("id"): svg for svg in dom.iter("{*}svg", "svg")}
    assert set(CHART_IDS) <= set(charts)
    for chart_id in CHART_IDS:
        svg = charts[chart_id]
        assert svg.get("role") == "img"
        assert svg.xpath(".//*[local-name()='title']")[0].text
        assert len(svg.xpath(".//*[local-name()='rect']")) >= 4, chart_id
    aging_bars = charts["chart-aging"].xpath(".//*[local-name()='g'][@class='bar']")
    assert len(aging_bars) == 6  # Current, 1-30, 31-60, 61-90, 90+, On hold
    assert dom.xpath("//script") == []


def test_screenshot_shows_the_charts_in_colour(chromium: str, page: Path, tmp_path: Path) -> None:
    """A full-page screenshot (kept in test-artifacts/) has the charts' green and red bars on it."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-page.png"
    shot.unlink(missing_ok=True)
    result = run_chromium(
        chromium, page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2900"
    )
    assert console_messages(result.stderr) == []
    with Image.open(shot) as image:
        assert image.size == (1280, 2900)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    counts = {rgb: n for n, rgb in colours}
    assert counts.get((0x3A, 0x8F, 0x5C), 0) > 2000  # Current / not yet due
    assert counts.get((0xC0, 0x39, 0x2B), 0) > 2000  # 90+
    assert len(counts) > 50  # text, tints and charts, not a blank page


def test_page_prints_to_a_few_a4_pages(chromium: str, page: Path, tmp_path: Path) -> None:
    """Printing gives an A4 PDF of a few pages (kept in test-artifacts/), with no console messages."""
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "report-page.pdf"
    pdf.unlink(missing_ok=True)
    result = run_chromium(
        chromium, page.as_uri(), tmp_path / "profile", f"--print-to-pdf={pdf}", "--no-pdf-header-footer"
    )
    assert console_messages(result.stderr) == []
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    assert 1 <= pages <= 5
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+59[45](\.\d+)?\s+84[12](\.\d+)?\s*\]", data)  # A4 in points


def test_the_console_check_would_catch_a_request_to_the_network(chromium: str, page: Path, tmp_path: Path) -> None:
    """Slip an image from the network into the page: the browser blocks it and says so on the console."""
    tampered = tmp_path / "tampered.html"
    text = page.read_text(encoding="utf-8").replace(
        "<body>", '<body><img src="http://127.0.0.1:9/pixel.png" alt="">', 1
    )
    tampered.write_text(text, encoding="utf-8")
    result = run_chromium(chromium, tampered.as_uri(), tmp_path / "profile", "--dump-dom")
    messages = console_messages(result.stderr)
    assert any("Content Security Policy" in m for m in messages), result.stderr[-2000:]
