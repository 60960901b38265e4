"""The GitHub edge: the only package that imports PyGithub (`github`).

`client` builds the PyGithub instance, `comments` the sticky PR comment, `status` the commit
status, `workflow` the workflow commands, outputs and job summary (pure, no API), `events`
typed event payloads, `commands` the one-click commit, `issues` the scheduled-check issue.
"""
