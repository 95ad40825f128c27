"""Eligibility: the 270s the engine sends on its own (see docs/eligibility.md)."""
