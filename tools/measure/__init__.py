"""Measurements: pure, typed functions over numpy audio, each returning a pydantic result with units."""
