"""``python -m workhorse`` is ``workhorse``."""

from workhorse.cli import main

main()
