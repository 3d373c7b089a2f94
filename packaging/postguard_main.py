"""The PyInstaller bundle's entry point (`make dist`): the `postguard` command, as the console script runs it."""
import multiprocessing
import sys

from local_service.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
