"""The stories: `check` (check), `detect`/`status` (detect, live), the scratch databases shared
by both (scratch), snapshots of migration prefixes, the review of a PR's revisions."""
