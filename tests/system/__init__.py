"""End-to-end tests: the real firmware under unix MicroPython (or a real device), over tcp and pty."""
