import sys

from dawm_pipeline.experiments.cli import main

if __name__ == "__main__":  # multiprocessing's spawn and forkserver re-import this module
    sys.exit(main())
