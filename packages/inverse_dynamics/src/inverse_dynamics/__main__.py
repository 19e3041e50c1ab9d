"""`python -m inverse_dynamics`: see inverse_dynamics.cli."""

import sys

from inverse_dynamics.cli import main

sys.exit(main())
