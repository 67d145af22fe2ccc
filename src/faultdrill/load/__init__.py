"""The load engine: Locust in a child process, streaming per-second histograms."""
