"""``python -m fcn_lesson``: the command line of :mod:`fcn_lesson.cli`.

Loading torch takes seconds; a Ctrl-C meanwhile ends in one line, like every
other way the command can stop early (the package itself loads nothing heavy
until a name is used, see ``fcn_lesson/__init__.py``).
"""
import sys

try:
    from .cli import main
except KeyboardInterrupt:
    print("error: interrupted while starting: nothing was written", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
