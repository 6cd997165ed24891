"""REST resources, bound to a client. Each module holds a sync class and its async twin."""
