"""The `parallax` command: operators' and developers' entry point to the whole system."""
