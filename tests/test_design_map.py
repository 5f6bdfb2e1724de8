"""The map of the code (docs/DESIGN.md) names every module, so a new module cannot land unmapped."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_design_map_names_every_module():
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    modules = sorted(
        p.relative_to(ROOT).as_posix() for d in ("tsgan", "cli") for p in (ROOT / d).rglob("*.py")
    )
    unmapped = [m for m in modules if m not in design]
    assert modules and not unmapped, f"add these modules to docs/DESIGN.md: {unmapped}"
