import sys

from connector.cli import main

if __name__ == "__main__":  # prepare processes (pipeline.prepare_processes) import this module
    sys.exit(main())
