"""Helpers shared by the tests: data paths, a deterministic rng, the root check.

Import them as `from support import fixed_rng` (pyproject puts tests/ on pytest's pythonpath). Never import
from `conftest`: several conftest.py files exist, and whichever pytest loaded first owns that module name.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
VECTORS = Path(__file__).resolve().parent / "vectors"
CAPTURES = DATA / "captures"


def fixed_rng(seed: int = 0x5A):
    """A deterministic rng for cores: reproducible bytes for a given seed."""
    r = random.Random(seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


def is_root() -> bool:
    return os.geteuid() == 0
