"""Ticket-sale traffic for the demo app (``docker/ticketing``): browse, sign up, enter a draw.

Weights follow a sale opening: most visitors browse (6), a third as many enter a draw (3), and
newcomers sign up first (1) — the sign-up surge of the seed's incident 1. Request names are route
templates (``GET /events/{id}``), so curves and checks are per route, not per id. Think times are
a person reading a page (closed mode; the open model ignores them).

Endpoints: ``GET /events``, ``GET /events/{id}``, ``POST /signup {"email"}``,
``POST /events/{id}/entries {"email"}`` (201 granted / 200 sold out / 202 pending in the queued
mode), ``GET /events/{id}/entries/{entry_id}`` (polling a pending entry).
"""

from __future__ import annotations

import random
import uuid

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

EVENT_IDS = (1, 2, 3)
EVENT_WEIGHTS = (6, 3, 1)  # the hot launch event draws most of the attention


def event_id() -> int:
    return random.choices(EVENT_IDS, EVENT_WEIGHTS)[0]


def new_email() -> str:
    return f"fd-{uuid.uuid4().hex[:20]}@example.test"


class Browser(FastHttpUser):
    """Looks at the event list and at events."""

    weight = 6
    wait_time = between(1.0, 3.0)

    @task(1)
    def list_events(self) -> None:
        self.client.get("/events", name="GET /events")

    @task(4)
    def view_event(self) -> None:
        self.client.get(f"/events/{event_id()}", name="GET /events/{id}")


class Entrant(FastHttpUser):
    """Opens an event and enters its ticket draw (a write to the primary DB)."""

    weight = 3
    wait_time = between(2.0, 5.0)

    @task
    def enter_draw(self) -> None:
        event = event_id()
        self.client.get(f"/events/{event}", name="GET /events/{id}")
        response = self.client.post(f"/events/{event}/entries", json={"email": new_email()},
                                    name="POST /events/{id}/entries")
        if response.status_code == 202:  # queued mode: the entry is pending; look once more later
            try:
                entry = response.json().get("entry_id")
            except ValueError:
                return
            if entry is not None:
                self.client.get(f"/events/{event}/entries/{entry}", name="GET /events/{id}/entries/{entry_id}")


class Newcomer(FastHttpUser):
    """Signs up (the verification mail is sent by the app), then looks at the hot event."""

    weight = 1
    wait_time = between(3.0, 8.0)

    @task
    def sign_up(self) -> None:
        self.client.post("/signup", json={"email": new_email()}, name="POST /signup")
        self.client.get(f"/events/{EVENT_IDS[0]}", name="GET /events/{id}")


USER_CLASSES = [Browser, Entrant, Newcomer]
