"""Rules that change without a restart: pack sources, the reload controller, pack bundles."""
