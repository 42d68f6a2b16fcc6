"""One module per benchmark case; each has ``run(size: dict, label: str)`` printing JSON lines."""
