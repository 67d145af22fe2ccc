"""Labels on every Docker object a run creates, so nothing can be left behind unnoticed."""

RUN = "faultdrill.run"
ROLE = "faultdrill.role"  # service | toxiproxy | network | image
SERVICE = "faultdrill.service"
CONTENT = "faultdrill.content"  # content hash of a built image's context


def run_labels(run_id: str, role: str, service: str | None = None) -> dict[str, str]:
    labels = {RUN: run_id, ROLE: role}
    if service:
        labels[SERVICE] = service
    return labels
