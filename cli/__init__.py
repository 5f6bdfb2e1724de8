"""The `tsgan` command line (installed as the package tsgan_cli)."""
