"""`python -m dawm_pipeline`: the end-to-end DAWM run (not implemented yet)."""

import sys


def main() -> int:
    print("dawm_pipeline: not implemented yet: see README status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
