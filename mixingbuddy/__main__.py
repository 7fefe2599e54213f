"""``python -m mixingbuddy``: the ``mixingbuddy`` command."""
import sys

from mixingbuddy.cli import main

sys.exit(main())
