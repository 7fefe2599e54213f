"""``python -m mixingbuddy.tools.separate fetch|status``: the set-up's weight fetch."""
from .weights import main

raise SystemExit(main())
