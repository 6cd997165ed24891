"""``python -m vatel``: the ``vatel`` command line."""

from vatel._cli import main

if __name__ == "__main__":
    main()
