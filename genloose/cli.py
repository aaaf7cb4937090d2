"""The ``genloose`` command line.

Subcommands are registered by :func:`build_parser`; each maps to a function of the public API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from genloose._version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``genloose`` command.

    Examples
    --------
    >>> build_parser().prog
    'genloose'
    """
    parser = argparse.ArgumentParser(
        prog="genloose",
        description="Measure how loose a generative model's latent space is: class radius, "
        "collision entropy, and the bounds of 'Looser is Worse' (Manoj, 2018).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"genloose {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``genloose`` command; returns the process exit status.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    genloose 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
