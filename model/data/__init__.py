"""Data synthesis for MixingBuddy: multitrack songs, flaw injection and the training corpus.

Modules: ``compose`` (General-MIDI songs), ``render`` (TinySoundFont stems), ``balance_prior``
(the professional stem-balance distribution), ``sources``, ``flaws``, ``templates`` and
``corpus``. Nothing is imported here, so light modules (e.g. ``templates``) load without the
synthesis dependencies.
"""
