"""Pricing: minutes to units, code-pair edits, caps, charges and expected payment (pure).

Two stages need it -- the units stage prices each visit as it arrives (a preview
on ``charges.billable``, and the bill of a self-pay visit), and the claims stage
prices a patient's whole day of service when its claim is assembled -- so it
sits below both (``docs/architecture.md``).  The code lists are data files in
``data/``.
"""
