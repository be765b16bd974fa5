"""Command bodies, one module each, imported lazily by ``etlcrew.cli`` so ``--help`` stays fast."""
