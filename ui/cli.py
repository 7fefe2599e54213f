"""The one `mixingbuddy` command line."""
import sys


def main(argv=None) -> int:
    print("mixingbuddy: not yet", file=sys.stderr)
    return 0
