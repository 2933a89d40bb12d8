"""README's layout table matches the tree: every package of ``oms_chain/`` is in it (its own row,
or named as ``sub/`` in its parent's row) and every package or module the table names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PKG = ROOT / "oms_chain"


def _layout_rows() -> dict[str, str]:
    """First-column ``oms_chain/...`` paths of the layout table -> their row's text."""
    return {path: text for paths, text in _layout_groups() for path in paths}


def _layout_groups() -> list[tuple[list[str], str]]:
    """The layout table's rows: their first-column ``oms_chain/...`` paths and their text."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows: list[tuple[list[str], str]] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first, rest = line[1:].split("|", 1)
        paths = [p for p in re.findall(r"`([^`]+)`", first) if p.startswith("oms_chain/")]
        if paths:
            rows.append((paths, rest))
    return rows


def _packages() -> set[str]:
    return {
        p.parent.relative_to(ROOT).as_posix() + "/"
        for p in PKG.rglob("__init__.py")
        if p.parent != PKG and "__pycache__" not in p.parts
    }


def _owner(package: str, rows: dict[str, str]) -> str | None:
    """The nearest listed ancestor row of ``package``."""
    parts = package.rstrip("/").split("/")
    for cut in range(len(parts) - 1, 1, -1):
        parent = "/".join(parts[:cut]) + "/"
        if parent in rows:
            return parent
    return None


def test_every_package_is_in_the_layout_table() -> None:
    rows = _layout_rows()
    missing = []
    for package in sorted(_packages()):
        if package in rows:
            continue
        owner = _owner(package, rows)
        if owner is None:
            missing.append(package)
            continue
        relative = package[len(owner) :]
        named = re.findall(r"`([^`]+/)`", rows[owner])
        if relative not in named and package[len("oms_chain/") :] not in named:
            missing.append(package)
    assert not missing, f"packages missing from README's layout table: {missing}"


def test_every_path_the_layout_table_names_exists() -> None:
    groups = _layout_groups()
    stale = [path for paths, _ in groups for path in paths if not (ROOT / path).exists()]
    for paths, text in groups:
        dirs = [ROOT / p for p in paths if p.endswith("/")] + [PKG]
        for name in re.findall(r"`([\w/.]+(?:/|\.py))`", text):
            if name.endswith("/"):
                found = any((d / name / "__init__.py").exists() for d in dirs)
            else:
                found = any((d / name).exists() or any(d.rglob(name)) for d in dirs[:-1])
                found = found or (PKG / name).exists()
            if not found:
                stale.append(f"{paths[0]} names {name}")
    assert not stale, f"README's layout table names what is not in the tree: {stale}"


def test_the_check_sees_the_table() -> None:
    rows = _layout_rows()
    assert "oms_chain/model/" in rows and "oms_chain/venues/" in rows
