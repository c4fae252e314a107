"""Sub-commands of ``rt-async-control``: argument parsing here, the work imported lazily."""
