"""The comparator: pairs both sides' responses per command, diffs them, reports, guards."""
