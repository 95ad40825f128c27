"""Fail when a pytest JUnit report shows that no test actually ran."""

import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()  # noqa: S314 -- the JUnit report pytest just wrote
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
total = sum(int(s.get("tests", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
ran = total - skipped
print(f"tests run: {ran} (collected {total}, skipped {skipped})")
if ran <= 0:
    print("no test ran: failing the run", file=sys.stderr)
    sys.exit(1)
