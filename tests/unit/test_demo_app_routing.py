"""The demo ticketing app's URL routing (docker/ticketing/ticketing/routing.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker" / "ticketing"))

from ticketing.routing import match


def test_routes_resolve_to_handlers_with_integer_params():
    found = match("GET", "/events/12/entries/345")
    assert (found.route, found.handler, found.params) == ("/events/{id}/entries/{entry_id}", "get_entry",
                                                           {"id": 12, "entry_id": 345})
    assert match("POST", "/events/1/entries").handler == "create_entry"
    assert match("GET", "/events/").handler == "list_events"
    assert match("HEAD", "/healthz").handler == "healthz"


def test_wrong_method_reports_what_is_allowed():
    found = match("GET", "/signup")
    assert found.handler is None and found.allowed == ("POST",) and found.route == "/signup"


def test_unknown_paths_share_one_metrics_label():
    assert match("GET", "/events/abc").route == "other"
    assert match("GET", "/wp-admin").route == "other"
