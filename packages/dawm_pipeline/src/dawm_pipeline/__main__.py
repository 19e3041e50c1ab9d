"""`python -m dawm_pipeline`: see dawm_pipeline.cli."""

import sys

from dawm_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
