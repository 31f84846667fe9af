"""Command-line tools. Each module's ``main(argv=None)`` is a console script."""
