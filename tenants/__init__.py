"""Tenants (regional governments and ministries), people, sessions and API tokens."""

import marketplace  # noqa: F401  (sets PICCOLO_CONF before any table is used)
