"""``python3 -m implicitem``: see implicitem.cli."""

import sys

from .cli import main

sys.exit(main())
