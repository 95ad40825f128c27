"""A deterministic payer: reads the engine's 837P files and answers with 835 remittances.

* :mod:`workers.payer_sim.rules` -- how each payer adjudicates (fee schedules,
  patient share, denials, reversals, voids, interest), loaded from JSON
  (``data/default_rules.json`` by default);
* :mod:`workers.payer_sim.adjudicate` -- the pure core: claims read by
  :func:`edi.x837p.read_837p` and the rules in, remittances out, and their
  835 text (:func:`edi.x835.render_835_interchange`);
* :mod:`workers.commands.simulate_payer` -- ``claims simulate-payer FILE.837``.

Nothing here is random: every choice that looks random is a hash of the
claim's CLM01 (and the rule), so the same file and rules give the same 835,
byte for byte, for the same ``now``.
"""
