"""The smoke drill's traffic: browse the front page."""

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser


class Browser(FastHttpUser):
    wait_time = between(0.05, 0.15)

    @task
    def front_page(self) -> None:
        self.client.get("/", name="GET /")


USER_CLASSES = [Browser]
