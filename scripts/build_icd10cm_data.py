"""Regenerate the ICD-10-CM code-set files in `schemas/data/icd10cm/` from a
release of the PyPI package simple-icd-10-cm.

    python3 scripts/build_icd10cm_data.py 1.5.0     # April 2026 -> 2026-04-01.txt.gz
    python3 scripts/build_icd10cm_data.py 1.3.0     # April 2025 -> 2025-04-01.txt.gz
    python3 scripts/build_icd10cm_data.py 1.2.0     # January 2021 -> 2021-01-01.txt.gz
    python3 scripts/build_icd10cm_data.py --all     # the three above

simple-icd-10-cm is never a dependency of the engine: the script installs the
version asked for into a throwaway virtualenv in a temporary folder (needs PyPI
once), runs itself there with `--export`, writes the file and removes the
virtualenv. Run it again and the output is byte for byte the same (gzip with no
name and no time stamp).

Which release each package version bundles (wheel contents and package README):

| simple-icd-10-cm   | release bundled (tabular XML file)                  | effective  |
|--------------------|-----------------------------------------------------|------------|
| 1.0.0, 1.0.2/3     | none (wheels without data)                          | -          |
| 1.0.1, 1.0.4-1.2.0 | January 2021 (`icd10cm_tabular_2021.xml`)           | 2021-01-01 |
| 1.3.0, 1.4.0       | April 2025 (`icd10cm-tabular-April-2025.xml`)       | 2025-04-01 |
| 1.5.0              | April 2026 (`icd10c-tabular-April-1-2026.xml`)      | 2026-04-01 |

The 2021 wheels also carry the CMS order file `icd10cm-order-Jan-2021.txt`: the
export from the tree matches it code for code and flag for flag (95,358 codes).

The January 2021 release is the FY2021 code set (effective 2020-10-01) plus the
codes effective 1 January 2021 (J12.82, M35.81, M35.89, Z11.52, Z20.822, Z86.16,
all present in its data), so it is in force from 2021-01-01.

The file format (read by `schemas/code_sets/icd10cm.py`): gzip UTF-8 text; the
first line is a tab-separated header

    #ICD-10-CM<TAB>effective date<TAB>label<TAB>source

then one line per category, subcategory and code, dot removed, sorted, each
`CODE B` (billable: a leaf, including the 7-character codes generated from the
tabular's sevenChrDef) or `CODE H` (a header: it has children, not billable).
Chapters and blocks (`1`, `A00-A09`) are not codes and are left out.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "schemas" / "data" / "icd10cm"
MAGIC = "#ICD-10-CM"

#: simple-icd-10-cm version -> (effective date, label, bundled tabular file).
KNOWN: dict[str, tuple[str, str, str]] = {
    "1.5.0": ("2026-04-01", "ICD-10-CM April 2026", "icd10c-tabular-April-1-2026.xml"),
    "1.4.0": ("2025-04-01", "ICD-10-CM April 2025", "icd10cm-tabular-April-2025.xml"),
    "1.3.0": ("2025-04-01", "ICD-10-CM April 2025", "icd10cm-tabular-April-2025.xml"),
    **dict.fromkeys(
        ("1.2.0", "1.1.2", "1.1.1", "1.1.0", "1.0.5", "1.0.4", "1.0.1"),
        ("2021-01-01", "ICD-10-CM January 2021", "icd10cm_tabular_2021.xml"),
    ),
}
#: The versions `--all` builds: one per distinct bundled release.
ALL = ("1.2.0", "1.3.0", "1.5.0")


def export(version: str, out: Path) -> None:
    """Inside the throwaway virtualenv: walk the installed package's tree."""
    from importlib.metadata import version as installed_version

    import simple_icd_10_cm as cm  # type: ignore[import-not-found]  # throwaway venv only

    found = installed_version("simple-icd-10-cm")
    if found != version:
        raise SystemExit(f"simple-icd-10-cm {found} is installed, not {version}")
    effective, label, tabular = KNOWN[version]
    rows: dict[str, str] = {}
    for code in cm.get_all_codes(with_dots=True):
        if not cm.is_category_or_subcategory(code):
            continue  # a chapter ("1") or a block ("A00-A09")
        bare = code.replace(".", "")
        flag = "B" if cm.is_leaf(code) else "H"
        if rows.setdefault(bare, flag) != flag:
            raise SystemExit(f"{code} is both billable and a header")
    source = f"simple-icd-10-cm {version} (PyPI), {tabular} (CDC/NCHS)"
    write(out, effective, label, source, rows)


def write(out: Path, effective: str, label: str, source: str, rows: dict[str, str]) -> None:
    """Write the compact file (also used by tests to compare with an order file)."""
    body = [f"{MAGIC}\t{effective}\t{label}\t{source}"]
    body += [f"{code} {rows[code]}" for code in sorted(rows)]
    data = ("\n".join(body) + "\n").encode()
    with out.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as gz:
        gz.write(data)
    billable = sum(1 for flag in rows.values() if flag == "B")
    print(f"{out.name}: {billable} billable, {len(rows) - billable} headers, {label}")


def build(version: str) -> Path:
    """Install `version` into a throwaway virtualenv and export from there."""
    if version not in KNOWN:
        raise SystemExit(f"unknown simple-icd-10-cm version {version}: add it to KNOWN")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"{KNOWN[version][0]}.txt.gz"
    with tempfile.TemporaryDirectory(prefix="icd10cm-") as tmp:
        venv = Path(tmp) / "venv"
        python = venv / "bin" / "python"
        run = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "-q", f"simple-icd-10-cm=={version}"],
            [str(python), __file__, "--export", version, str(out)],
        ]
        for command in run:
            subprocess.run(command, check=True)  # noqa: S603 -- fixed argument lists, no shell
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", help="simple-icd-10-cm versions, e.g. 1.5.0")
    parser.add_argument("--all", action="store_true", help=f"build {', '.join(ALL)}")
    parser.add_argument("--export", nargs=2, metavar=("VERSION", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        export(args.export[0], Path(args.export[1]))
        return
    versions = list(ALL) if args.all else args.versions
    if not versions:
        parser.error("name a simple-icd-10-cm version or --all")
    for version in versions:
        build(version)


if __name__ == "__main__":
    main()
