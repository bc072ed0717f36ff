"""Sub-commands of `parallax` (one typer sub-app per module)."""
