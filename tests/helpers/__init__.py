"""What the tests share, outside the installed package: closed-form layer formulas written
densely (``dense``), small graphs tagged with the corner case they exercise (``graphs``), and
importing a script or benchmark file as a module (``scripts``). Imported as ``tests.helpers``
(pytest puts the repository root on ``sys.path``: ``pythonpath`` in ``pyproject.toml``)."""
