"""The ``receivables`` console script: a large sheet's reading started before the toolkit is imported.

``toolkit.xlsx.prefetch`` forks the process that reads the sheet while this one is small
and its imports (a fifth of a second) are still to come; then the command runs as ever
(``toolkit.cli.main``).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the console script."""
    from toolkit.xlsx import prefetch

    prefetch.start(sys.argv[1:])
    from toolkit.cli import main as run_command

    run_command()


if __name__ == "__main__":
    main()
