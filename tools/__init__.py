"""The measurement toolbox, in three parts.

- ``io``: reading audio files safely (decode, sniff, validate) and naming stems;
- ``measure``: pure, typed measurements over numpy arrays, each a pydantic result whose field names
  carry their unit (``_lufs``, ``_db``, ``_hz``) and a one-line ``verdict``;
- ``registry``: the measurements as JSON-schema tools an LLM can call;
- ``separate``: HT-Demucs source separation; ``data``: the reference tables and their builders.
"""
