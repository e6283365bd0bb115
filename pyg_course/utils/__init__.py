"""The few helpers several packages share, each module named by what it holds."""
