"""The command line: flags → Settings → a run → rendered report → exit code (DESIGN.md §exit codes)."""
