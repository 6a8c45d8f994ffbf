"""The ``coding-potential`` command line (outside the core; imports each part lazily)."""
