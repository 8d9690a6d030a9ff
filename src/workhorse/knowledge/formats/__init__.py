"""Format readers: each turns one kind of file into ``Block`` objects (see ``parse``)."""
