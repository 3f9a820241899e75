"""The repository: git's command line, pygit2 commits from trees, the run's ``Repository`` adapter, the
pre-push hook's installer and what a push holds, TASK.md. Importing this package loads nothing."""
