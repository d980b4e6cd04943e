"""Sub-commands of the ``gateway`` CLI, one module per area."""
