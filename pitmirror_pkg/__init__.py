"""pitmirror: cycle-based block-volume mirroring with a checked point-in-time promise."""
