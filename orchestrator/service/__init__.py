"""What the CLI and the dashboard both do: build the ``--json`` shapes and carry out actions.

Both surfaces call these functions, so they cannot disagree. Reads go through the store's
queries; nothing here imports a web framework or rich (the read commands stay light).
"""
