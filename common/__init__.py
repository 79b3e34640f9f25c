"""What the four MAL2 assignments share: seeding, run folders, the Lightning trainer and CLI,
checkpoints, experiment comparisons and the `portfolio` command."""
