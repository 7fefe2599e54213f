"""``python -m mixingbuddy``: the ``mixingbuddy`` command."""
import sys

from mixingbuddy.cli import run

sys.exit(run())
