"""Every ignore says why: checker suppressions in the source carry a code and a reason.

A ``type: ignore`` comment must read ``# type: ignore[code]  # why`` (the mypy error
code, two spaces, then the reason) and a ``noqa`` comment ``# noqa: CODE -- why``
(the ruff rule, then `` -- `` and the reason).  Only comments are read (with
:mod:`tokenize`), so a string that merely contains such text is not a suppression.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("workers", "schemas", "edi", "scripts", "tests", "bench")

#: Where a comment suppresses something (what mypy and ruff would act on).
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore", re.IGNORECASE)
NOQA = re.compile(r"#\s*noqa\b", re.IGNORECASE)
#: The accepted forms, matched where the suppression starts.
TYPE_IGNORE_WITH_REASON = re.compile(
    r"# type: ignore\[[a-z][-a-z0-9]*(?:, ?[a-z][-a-z0-9]*)*\]  # \S"
)
NOQA_WITH_REASON = re.compile(r"# noqa: [A-Z]+[0-9]+(?:, ?[A-Z]+[0-9]+)* -- \S")


def unexplained(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each suppression in ``source`` without a code and reason."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        comment = token.string
        for directive, accepted in (
            (TYPE_IGNORE, TYPE_IGNORE_WITH_REASON),
            (NOQA, NOQA_WITH_REASON),
        ):
            at = directive.search(comment)
            if at is not None and accepted.match(comment, at.start()) is None:
                found.append((token.start[0], comment))
                break
    return found


def source_files() -> list[Path]:
    return sorted(path for folder in FOLDERS for path in (REPO / folder).rglob("*.py"))


def test_the_check_tells_good_comments_from_bad() -> None:
    good = (
        "x = f()  # type: ignore[arg-type]  # pydantic validates it at run time\n"
        "y = g()  # type: ignore[call-arg, return-value]  # the factory takes bytes\n"
        "import z  # noqa: E402 -- importable only after sys.path is set\n"
        "w = h()  # noqa: SIM115, PLW2901 -- closed by the caller\n"
        "s = '# type: ignore and # noqa inside a string are not comments'\n"
        "# a comment that only talks about ignores\n"
    )
    assert unexplained(good) == []
    bad = [
        "x = f()  # type: ignore\n",
        "x = f()  # type: ignore  # no code\n",
        "x = f()  # type: ignore[arg-type]\n",
        "x = f()  # type: ignore[arg-type] # one space\n",
        "x = f()  # type: ignore[arg-type]  #\n",
        "x = f()  # type:ignore[arg-type]  # no space after the colon\n",
        "import z  # noqa\n",
        "import z  # noqa: E402\n",
        "import z  # noqa: E402 - one dash\n",
        "import z  # noqa: E402 (in brackets)\n",
        "import z  # noqa: E402 --\n",
        "import z  # NOQA: E402 -- upper case\n",
        "import z  # an aside  # noqa: E402\n",
    ]
    for line in bad:
        assert unexplained(line) == [(1, line.split("  ", 1)[1].rstrip("\n"))], line


def test_every_ignore_in_the_source_says_why() -> None:
    files = source_files()
    assert len(files) > 50, "the folders were not found"
    problems = [
        f"{path.relative_to(REPO)}:{line}: {comment}"
        for path in files
        for line, comment in unexplained(path.read_text(encoding="utf-8"))
    ]
    assert not problems, (
        "write `# type: ignore[code]  # why` or `# noqa: CODE -- why` (or fix the code):\n"
        + "\n".join(problems)
    )
