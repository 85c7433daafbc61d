"""One package per family of algorithms; every module here is imported by the registry."""
