"""Does the report's per-system table fit a 1400-px browser window?

Renders the test fixture study (seven systems, 28 records: ``tests/report/fleet_fixture.py``)
with :func:`potstill.report.render_report`, takes the "Per-system results" section as the
report's own HTML (same CSS), opens it in headless Chromium at 1400 × 900 and reads the
table's ``scrollWidth`` against its ``clientWidth`` (equal: no horizontal scrolling) and
the tallest body row in pixels (a row of one line is about 30 px at the report's 13-px
table font). Writes ``benchmarks/results/report_width.json`` and prints it as one line.

Usage: ``python benchmarks/report_width.py`` (needs ``chromium`` on PATH; seconds).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from potstill.report import render_report
from potstill.report.html import markdown_to_html

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1400, 900)
PROBE = """<script>window.onload = function () {
  var t = document.querySelector('table');
  var rows = [...t.querySelectorAll('tbody tr')].map(r => r.getBoundingClientRect().height);
  document.title = JSON.stringify({scroll_width: t.scrollWidth, client_width: t.clientWidth,
    max_row_px: Math.max(...rows), min_row_px: Math.min(...rows), rows: rows.length});
};</script>"""


def _fixture() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fleet_fixture", ROOT / "tests" / "report" / "fleet_fixture.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(chromium: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study"
        study.mkdir()
        _fixture().write_study(study)
        markdown = render_report(study).markdown.read_text(encoding="utf-8")
        start = markdown.index("## Per-system results")
        section = markdown[start : markdown.index("\n## ", start + 1)]
        page = Path(tmp) / "table.html"
        html = markdown_to_html(section, {}, "per-system table")
        page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    title = re.search(r"<title>(.*?)</title>", done.stdout, re.S)
    assert title is not None, "Chromium returned no title"
    figures = json.loads(title.group(1).replace("&quot;", '"'))
    return {"window_px": list(WINDOW), **figures,
            "fits": figures["scroll_width"] <= figures["client_width"]}  # fmt: skip


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install -y chromium)")
    result = measure(chromium)
    out = ROOT / "benchmarks" / "results" / "report_width.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
