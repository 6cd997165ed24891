"""REST resources, bound to a client. Each module holds async classes, written by
hand, and their sync twins, generated from them by ``scripts/unasync.py``."""

# The client module first: the resources name its classes in their signatures
# (resolved at run time by ``typing.get_type_hints``), and it may import the
# resource modules in turn. Loading it before any of them keeps that cycle safe
# whichever side is imported first.
from .. import _client  # noqa: F401
