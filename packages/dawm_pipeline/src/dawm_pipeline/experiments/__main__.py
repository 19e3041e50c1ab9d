import sys

from dawm_pipeline.experiments.cli import main

sys.exit(main())
