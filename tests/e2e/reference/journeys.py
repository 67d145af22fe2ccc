"""The reference drill's journey: one request, named as a locustfile author would (``name="/front"``)."""

from locust import HttpUser, task


class Visitor(HttpUser):
    @task
    def front_page(self) -> None:
        self.client.get("/", name="/front")
