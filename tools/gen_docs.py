#!/usr/bin/env python3
"""Regenerate completions/ (bash, zsh, fish) and man/ (rrasctl.1 + one page per group) from the Click tree.

    .venv/bin/python tools/gen_docs.py            # write them into the repo
    .venv/bin/python tools/gen_docs.py --out DIR  # write DIR/completions and DIR/man instead
    .venv/bin/python tools/gen_docs.py --check    # exit 1 if the repo's copies are stale
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
os.environ["COLUMNS"] = "80"  # click wraps help to the terminal width: pin it

import gen_completions  # noqa: E402
import gen_man  # noqa: E402


def render() -> dict[str, str]:
    files = {f"completions/{k}": v for k, v in gen_completions.render_all().items()}
    files.update({f"man/{k}": v for k, v in gen_man.render_all().items()})
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    files = render()
    if args.check:
        stale = [p for p, text in files.items() if not (ROOT / p).exists() or (ROOT / p).read_text() != text]
        for sub in ("completions", "man"):
            for f in sorted((ROOT / sub).glob("*")) if (ROOT / sub).exists() else []:
                if f"{sub}/{f.name}" not in files:
                    stale.append(f"{sub}/{f.name} (no longer generated)")
        for p in stale:
            print(f"stale: {p}", file=sys.stderr)
        return 1 if stale else 0
    for p, text in files.items():
        dest = args.out / p
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    print(f"wrote {len(files)} files under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
