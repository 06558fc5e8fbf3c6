"""`needledrop` command line: one module per command group, one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import errno
import logging
import sys

import engine
from engine.cli.commands import fit, library, models, recommend, serve, timeline
from engine.errors import BundleError, DecodeError, ExecutionProviderError, NeedledropError, TimelineReadError
from engine.facade import DatabaseError

COMMAND_GROUPS = (models, library, recommend, serve, fit, timeline)
EXIT_CODES = {BundleError: 3, DecodeError: 4, ExecutionProviderError: 5, DatabaseError: 6, TimelineReadError: 7}


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other error (subcommands inherit this class)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="needledrop",
        description="Recommend tracks from your own music library for a video clip and a prompt.",
    )
    parser.add_argument("--version", action="version", version=f"needledrop {engine.__version__}")
    parser.add_argument(
        "--data-dir",
        help="the library's folder: catalog, index, caches (default: the user data folder, or NEEDLEDROP_DATA_DIR); "
        "model bundles stay in the user's models folder",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    return args.handler(args) or 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except NeedledropError as exc:
        print(f"needledrop: {exc}", file=sys.stderr)
        return next((code for cls, code in EXIT_CODES.items() if isinstance(exc, cls)), 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `needledrop models info | head`
        sys.stderr.close()
        return 0
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return 0
        # The machine said no (a full disk, a folder that vanished, no permission): one line, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"needledrop: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
