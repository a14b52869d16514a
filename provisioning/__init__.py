"""Provisioning: installations of catalog apps, run for tenants as isolated containers."""

import marketplace  # noqa: F401  (sets PICCOLO_CONF before any table is used)
