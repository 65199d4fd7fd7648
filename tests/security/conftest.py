"""Security suite fixtures: helpers live in security_support.py and ../e2e/e2e_support.py.

Every process and server a fixture starts is stopped in its finalizer, by PID.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "e2e"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
