"""Two runs (or two test processes) starting at once on a fresh engine build each image once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import docker.errors

from faultdrill.stack import images


class FakeEngine:
    """The part of docker-py the builder uses: ``images.get`` and a slow ``api.build`` that tags."""

    def __init__(self) -> None:
        self.tags: set[str] = set()
        self.builds: list[str] = []
        self.images = self
        self.api = self

    def get(self, tag: str) -> object:
        if tag not in self.tags:
            raise docker.errors.ImageNotFound(tag)
        return object()

    def build(self, *, tag: str, **_: Any) -> list[dict[str, str]]:
        self.builds.append(tag)
        time.sleep(0.3)
        self.tags.add(tag)
        return [{"stream": "Step 1/1 : FROM base\n"}]


def test_two_builders_of_one_image_build_it_once(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.tags.add(images.BASE_TAG)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM base\n")
    tags: list[str] = []
    threads = [threading.Thread(target=lambda: tags.append(images.ensure_built(engine, tmp_path / "app")))  # type: ignore[arg-type]
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tags)) == 1 and len(tags) == 3
    assert engine.builds == tags[:1]  # one build; the others waited and found it
