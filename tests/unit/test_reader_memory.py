"""Every X12 reader's memory stays flat: a 10 MB file costs what a small one costs.

A 15 MB 999 used to peak near 1 GB in ``claims edi parse-999`` (about 60 MB per
MB of input); the 277 reader grew about 45 MB per MB, and the 835 and 837P
readers about 35 MB per MB on a claim with very many lines.  Each reader now
streams what it publishes and bounds each transaction set, so a file of any size
up to the limit is read in the memory of one transaction's claim or AK2 loop.

Each reader (and ``claims edi parse-999 --json``, which held the whole file) runs in its own small process over a ~10 MB file of the shape that used to
grow: its peak RSS after reading the file is compared with its peak before
(imports done).  The growth must stay under :data:`MAX_GROWTH_MB`, a tenth of
what the old readers took per MB of input for the whole file.  The files are the
benchmark's (``bench/_shapes.py``); the full-size runs, up to the 100 MB limit,
are ``bench/bench_reader_memory.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _shapes  # noqa: E402 -- importable only after REPO is put on sys.path above

SIZE = 10_000_000
#: Peak RSS growth allowed while reading a 10 MB file (the old readers took 350 to 600 MB).
MAX_GROWTH_MB = 25

#: What each child process runs over its file; it prints its peak RSS before and after.
CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
kind, path = sys.argv[2], sys.argv[3]
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import io, os
from edi.x835 import iter_835_events
from edi.x837p import read_837p
from edi.x999 import iter_999_events
from edi.x277 import iter_277_events
from workers.commands.acks import parse_ack_main
readers = {"835": iter_835_events, "837": read_837p, "999": iter_999_events,
           "277": iter_277_events}
before = peak()
items = 0
if kind.startswith("cli-"):
    with open(os.devnull, "w") as sink:
        status = parse_ack_main(path, kind[4:], True, sink, io.StringIO())
    outcome = f"exit {status}"
elif kind == "inbox-999":  # what the inbox publishes for an acknowledgement file
    from pathlib import Path
    from edi.segments import read_segments
    from tests import claim_factories as cf
    from workers.inbound.acknowledgements import messages
    isa, gs = list(__import__("itertools").islice(read_segments(open(path, "rb")), 2))
    partner = cf.partner(isa_receiver_id=isa.element(6).strip(),
                         gs_receiver_code=gs.element(2).strip())
    report, records = messages(Path(path), [partner])
    for _ in records:
        items += 1
    outcome = "ok"
else:
    with open(path, "rb") as stream:
        for _ in readers[kind](stream):
            items += 1
    outcome = "ok"
print(json.dumps({"before": before, "after": peak(), "items": items, "outcome": outcome}))
"""

#: (reader or command, file shape): the shapes that used to grow with the file.
CASES = [
    ("999", "999"),  # one 999 acknowledging ~250,000 transaction sets
    ("277", "277"),  # one 277CA of ~40,000 claims
    ("835", "835-wide"),  # claims of 999 service lines (the guide's maximum)
    ("837", "837-wide"),  # claims of 50 service lines, 5,000 claims a transaction set
    ("cli-999", "999"),  # claims edi parse-999 --json (parse-277 is the same code)
    ("inbox-999", "999"),  # the inbox's messages for acks.inbound (two streaming passes)
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reader-memory")
    writers = {
        "999": lambda p: _shapes.write_999(p, SIZE),
        "277": lambda p: _shapes.write_277(p, SIZE),
        "835-wide": lambda p: _shapes.write_835(p, SIZE, lines=999),
        "837-wide": lambda p: _shapes.write_837(p, SIZE, lines=50),
    }
    out = {}
    for shape, write in writers.items():
        out[shape] = folder / f"{shape}.x12"
        write(out[shape])
    return out


@pytest.fixture(scope="module")
def measured(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every case measured, two processes at a time (the development machine has 2 cores)."""
    results: dict[str, dict[str, Any]] = {}
    for start in range(0, len(CASES), 2):
        running = [
            (kind, subprocess.Popen(
                [sys.executable, "-c", CHILD, str(REPO), kind, str(files[shape])],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
            for kind, shape in CASES[start : start + 2]
        ]  # fmt: skip
        for kind, process in running:
            stdout, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr[-2000:]
            results[kind] = json.loads(stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize(("kind", "shape"), CASES, ids=[kind for kind, _ in CASES])
def test_reading_a_10_mb_file_keeps_memory_flat(
    kind: str, shape: str, files: dict[str, Path], measured: dict[str, dict[str, Any]]
) -> None:
    assert files[shape].stat().st_size > 0.95 * SIZE
    result = measured[kind]
    assert result["outcome"] in ("ok", "exit 0")
    assert kind.startswith("cli-") or result["items"] > 100
    growth = result["after"] - result["before"]
    assert growth < MAX_GROWTH_MB, f"{kind}: peak RSS grew {growth:.1f} MB on a 10 MB file"
