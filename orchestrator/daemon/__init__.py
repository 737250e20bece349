"""The daemon: supervisor loop, scheduling, dispatch, checkpoints and recovery."""
