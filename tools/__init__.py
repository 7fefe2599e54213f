"""Measurement toolbox: ingest plus pure, typed measurement functions over numpy arrays.

Every measurement returns a pydantic model whose field names carry their unit
(``_lufs``, ``_db``, ``_hz`` ...) and a one-line plain-language ``verdict``.
"""
