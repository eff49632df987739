"""``python -m bianmin``: the same as the ``bianmin`` command."""

from bianmin.cli import main

if __name__ == "__main__":
    main()
