"""The engine-wide code lists, loaded from the data files beside this module.

* ``technique_codes.json``: default technique -> procedure code map;
* ``untimed_codes.json``: codes billed as one unit whatever the minutes;
* ``code_pairs.json``: procedure-to-procedure edits applied to every payer.

Payers refine all three in their own reference record.  Each file carries a
``version`` that is recorded in every line's derivation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas.reference import CodeMapEntry, CodePairRule
from workers.pricing.data_files import load


@dataclass(frozen=True)
class CodeLists:
    technique_map: tuple[CodeMapEntry, ...]
    technique_map_version: str
    untimed: frozenset[str]
    untimed_version: str
    pairs: tuple[CodePairRule, ...]
    pairs_version: str

    @property
    def version(self) -> str:
        return (
            f"technique_codes {self.technique_map_version}; untimed_codes "
            f"{self.untimed_version}; code_pairs {self.pairs_version}"
        )


@lru_cache(maxsize=1)
def default_code_lists() -> CodeLists:
    techniques = load("technique_codes.json")
    untimed = load("untimed_codes.json")
    pairs = load("code_pairs.json")
    return CodeLists(
        technique_map=tuple(
            CodeMapEntry.model_validate(r, strict=False) for r in techniques["rows"]
        ),
        technique_map_version=techniques["version"],
        untimed=frozenset(untimed["codes"]),
        untimed_version=untimed["version"],
        pairs=tuple(CodePairRule.model_validate(r, strict=False) for r in pairs["rows"]),
        pairs_version=pairs["version"],
    )
