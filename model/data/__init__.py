"""Data synthesis for MixingBuddy: multitrack songs, flaw injection and the training corpus.

- ``compose``: General-MIDI songs in several styles, one PrettyMIDI per stem role;
- ``render``: TinySoundFont rendering to four stems at a natural balance
  (``render_song``, ``STYLES``);
- ``balance_prior``: the professional stem-balance distribution (draw, measure, impose);
- ``sources``, ``flaws``, ``templates``, ``corpus``: readers, the flaw protocol, wordings and
  the corpus builder.

Nothing is imported here, so that light modules (e.g. ``templates``) load without the
synthesis dependencies.
"""
