"""MixingBuddy: a mix critic you can talk to (``tools``, ``model``, ``agent``, ``ui``, ``evals``)."""
