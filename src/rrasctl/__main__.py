"""`python -m rrasctl` and the `rrasctl` console script.

`--version` is answered before click is imported, so it costs little more than starting Python.
"""

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"] or argv == ["-V"]:
        from rrasctl import __version__

        sys.stdout.write(f"rrasctl {__version__}\n")
        return
    from rrasctl.cli import run

    run()


if __name__ == "__main__":
    main()
