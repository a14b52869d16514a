"""Adoption statistics: which proven systems are reused, where, and what that saved."""
