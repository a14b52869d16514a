"""Lumbung: the inter-regional app-sharing marketplace (app assembly)."""

import os

# Piccolo finds its engine and app registry through this module.
os.environ.setdefault("PICCOLO_CONF", "marketplace.piccolo_conf")

__version__ = "0.1.0"
