"""Test setup: import the package from this source tree (not an installed copy) and the
reference implementation from this folder."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent))
sys.path.insert(0, str(TESTS))
