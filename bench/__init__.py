"""Benchmarks of the SDK against the bare libraries it is built on.

Run them all with ``python -m bench`` (``--help`` for sizes and selection). Every
benchmark measures a hand-written baseline and the SDK in the same run, against
the same local server process, and prints both figures with their ratio.
"""
