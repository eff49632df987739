"""The pages hold to DESIGN §11 and STYLE §25: templates escape by default, no asset comes
from the internet, no inline script or style (the Content-Security-Policy forbids both), and
the templates and assets ship in the package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p for p in ROOT.glob("*/**/templates/*.html") if ".venv" not in p.parts)


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 20


def test_no_template_loads_anything_from_another_site():
    offences = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in TEMPLATES
                for m in re.finditer(r"""(src|href|action)=["'](https?:)?//""",
                                     p.read_text(encoding="utf-8"))]
    assert offences == []


def test_no_template_has_an_inline_script_handler_or_style():
    pattern = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|\sstyle=", re.I)
    offences = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in TEMPLATES
                for m in pattern.finditer(p.read_text(encoding="utf-8"))]
    assert offences == []


def test_only_known_safe_values_are_marked_safe():
    """``|safe`` turns escaping off: only for the QR code's and the charts' SVG, which the code
    builds from escaped text."""
    found = {m.group(1) for p in TEMPLATES
             for m in re.finditer(r"\{\{\s*([\w.]+)\s*\|\s*safe", p.read_text(encoding="utf-8"))}
    assert found <= {"qr", "colour_chart", "chart"}


def test_templates_and_assets_ship_in_the_package():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["*"]
    assert "templates/*.html" in patterns
    assert "static/*" in patterns
    static = ROOT / "node" / "web" / "static"
    assert (static / "htmx.min.js").stat().st_size > 10_000  # vendored, not a CDN link
    assert (static / "htmx-LICENSE.txt").exists()
