"""API schemas: ``XCreate`` bodies in, ``XPublic`` out, ``Page[X]`` for lists; one module per
area (``common``, ``fleet``, ``work``, ``ops``)."""
