"""Writing a drill out for other platforms (Kubernetes manifests)."""
