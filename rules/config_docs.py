"""Print docs/configuration.md, or the template `postguard init` writes, from the config schema.

    python -m rules.config_docs > docs/configuration.md
    python -m rules.config_docs --template
"""
from __future__ import annotations

import argparse
import sys

from .config import markdown, template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rules.config_docs", description=__doc__.splitlines()[0])
    parser.add_argument("--template", action="store_true", help="the commented config file instead of the Markdown")
    args = parser.parse_args(argv)
    sys.stdout.write(template() if args.template else markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
