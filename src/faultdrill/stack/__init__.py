"""The target stack in Docker: images, network, Toxiproxy, services, health, cleanup."""
