"""The catalog: apps, versions, manifests, bundles, review and search."""

import marketplace  # noqa: F401  (sets PICCOLO_CONF before any table is used)
