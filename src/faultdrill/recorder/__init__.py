"""Writing what a drill saw, as it happens, into ``results/<run>/``."""
