"""Tools for developing and demonstrating the portal; never imported by the portal itself."""
