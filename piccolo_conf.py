"""Lets the `piccolo` command line find the project's configuration from the repository root."""

from marketplace.piccolo_conf import APP_REGISTRY, DB  # noqa: F401
