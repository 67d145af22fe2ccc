"""Shoppers on the compose-shop example: product pages (through the cache) and orders (onto the queue)."""

import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser


class Shopper(FastHttpUser):
    wait_time = between(0.1, 0.3)

    @task(3)
    def product_page(self) -> None:
        self.client.get(f"/products/{random.randint(1, 40)}", name="GET /products/{id}")

    @task(1)
    def order(self) -> None:
        self.client.post("/orders", json={"product": random.randint(1, 40), "qty": 1}, name="POST /orders")
