"""The inbound wing: files that come into the engine and the topics they go to.

Clinics' JSON-lines files (sessions and reference data), payers' 835
remittances, receivers' 999/277CA acknowledgements, and the inbox that watches
a directory for all of them.
"""
