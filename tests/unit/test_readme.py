"""The README and the documentation stay true.

The README stays short and lists every ``claims`` subcommand and every folder. In
the README, CONTRIBUTING.md, deploy/README.md, bench/README.md and docs/*.md,
every relative link leads to a file (and heading) that exists, every backticked
repository path exists, and every ``claims`` command named is one the parser
knows.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.cli import build_parser
from workers.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
PAGES = [
    REPO / "README.md",
    REPO / "CONTRIBUTING.md",
    REPO / "deploy" / "README.md",
    REPO / "bench" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]

#: The README is read in five minutes; details belong in docs/.
MAX_README_LINES = 230

#: A backticked text is taken for a repository path only when it is nothing but a
#: path under one of these folders (``workers/claims/lifecycle.py``, ``docs/``,
#: ``examples/*.jsonl``); commands, topics and placeholders never match.
PATH = re.compile(r"(?:schemas|edi|workers|deploy|tests|bench|scripts|docs|examples)/[\w./*-]*")
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*(\S+)", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def split_fences(text: str) -> tuple[str, list[str]]:
    """The prose of a Markdown page (fenced blocks blanked) and the fenced lines."""
    prose: list[str] = []
    fenced: list[str] = []
    fence = ""
    for line in text.splitlines():
        marker = re.match(r"\s*(`{3,}|~{3,})", line)
        if fence:
            if marker and marker.group(1).startswith(fence):
                fence = ""
            else:
                fenced.append(line)
            prose.append("")
        elif marker:
            fence = marker.group(1)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), fenced


def code_spans(text: str) -> list[str]:
    return CODE_SPAN.findall(split_fences(text)[0])


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(split_fences(page.read_text())[0]):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(text: str) -> list[str]:
    prose = CODE_SPAN.sub("", split_fences(text)[0])
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def section(text: str, heading: str) -> str:
    """The body of the level-2 or level-3 section called ``heading``."""
    match = re.search(rf"^(#{{2,3}}) {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert match, f"no section {heading!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, match.end())
    return text[match.end() : end.start() if end else len(text)]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def first_choices(parser: argparse.ArgumentParser) -> set[str] | None:
    """What the word after a subcommand may be: its actions, or its first positional's choices."""
    nested = subcommands(parser)
    if nested:
        return set(nested)
    for action in parser._actions:
        if not action.option_strings:
            return {str(c) for c in action.choices} if action.choices else None
    return None


def commands_named(text: str) -> Iterator[str]:
    """Every ``claims ...`` command in code spans and at the start of fenced lines."""
    prose, fenced = split_fences(text)
    for candidate in [*CODE_SPAN.findall(prose), *(line.strip() for line in fenced)]:
        if candidate.startswith("claims "):
            yield candidate.replace("\\|", "|")


def test_the_readme_is_short() -> None:
    lines = len(README.splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move details to docs/"
    )


def test_the_two_commands_are_executable_scripts() -> None:
    for cmd in ("./scripts/demo", "./scripts/test"):
        assert cmd in README
        path = REPO / cmd
        assert path.is_file() and os.access(path, os.X_OK)
    assert "./scripts/test" in (REPO / ".ci/run").read_text()


def test_every_setting_is_in_the_configuration_page() -> None:
    page = (REPO / "docs" / "configuration.md").read_text()
    missing = [
        f"CLAIMS_{n.upper()}" for n in Settings.model_fields if f"`CLAIMS_{n.upper()}`" not in page
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    assert "(docs/configuration.md)" in README


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_files_and_headings(page: Path) -> None:
    broken = []
    for target in links(page.read_text()):
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_backticked_repository_paths_exist(page: Path) -> None:
    missing = []
    for span in code_spans(page.read_text()):
        if not PATH.fullmatch(span):
            continue
        found = any(REPO.glob(span)) if "*" in span else (REPO / span).exists()
        if not found:
            missing.append(span)
    assert not missing, f"{page.relative_to(REPO)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_claims_command_named_exists(page: Path) -> None:
    top = subcommands(build_parser())
    unknown = []
    for command in commands_named(page.read_text()):
        words = command.split()
        if words[1].startswith("-"):
            continue  # `claims --help`
        parser = top.get(words[1])
        if parser is None:
            unknown.append(command)
            continue
        allowed = first_choices(parser)
        if allowed is None or len(words) < 3 or not re.fullmatch(r"[a-z0-9][a-z0-9.|-]*", words[2]):
            continue  # a placeholder, an option or a free argument follows
        if not set(words[2].split("|")) <= allowed:
            unknown.append(command)
    assert not unknown, f"{page.relative_to(REPO)} names unknown commands: {unknown}"


def test_the_readme_lists_every_subcommand() -> None:
    listed = section(README, "Commands")
    missing = [name for name in subcommands(build_parser()) if f"`claims {name}" not in listed]
    assert not missing, f"README.md's command list lacks: {missing}"


def test_the_folder_table_is_complete() -> None:
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    table = section(README, "Folders")
    # every top-level folder has a row (workers/ has one per package and module)...
    folders = {f"{p.split('/')[0]}/" for p in tracked if "/" in p}
    missing = [f for f in sorted(folders) if f"| `{f}" not in table]
    # ...and so has every package of workers/
    packages = {
        p.rsplit("/", 1)[0] + "/" for p in tracked if re.fullmatch(r"workers/\w+/__init__\.py", p)
    }
    missing += [p for p in sorted(packages) if f"| `{p}` |" not in table]
    assert not missing, f"README.md's folder table lacks: {missing}"
