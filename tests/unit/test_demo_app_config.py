"""The demo ticketing app's env parsing (docker/ticketing/ticketing/config.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker" / "ticketing"))

from ticketing.config import Config, ConfigError


def test_defaults_reproduce_the_incident():
    cfg = Config.from_env({})
    assert (cfg.mail_mode, cfg.entry_mode) == ("thread", "locking")
    assert cfg.mail_timeout_s == 30.0
    assert (cfg.threads, cfg.db_pool_size, cfg.port) == (32, 10, 8000)
    assert (cfg.smtp_host, cfg.smtp_port) == ("mail", 1025)


def test_pool_mode_defaults_to_a_short_timeout_unless_set():
    assert Config.from_env({"MAIL_MODE": "pool"}).mail_timeout_s == 3.0
    assert Config.from_env({"MAIL_MODE": "pool", "MAIL_TIMEOUT_S": "0.5"}).mail_timeout_s == 0.5


def test_smtp_addr_is_split_into_host_and_port():
    cfg = Config.from_env({"SMTP_ADDR": "toxiproxy:21025"})
    assert (cfg.smtp_host, cfg.smtp_port) == ("toxiproxy", 21025)


@pytest.mark.parametrize("env, names", [
    ({"MAIL_MODE": "async"}, "MAIL_MODE"),
    ({"ENTRY_MODE": "fast"}, "ENTRY_MODE"),
    ({"THREADS": "0"}, "THREADS"),
    ({"THREADS": "many"}, "THREADS"),
    ({"DB_POOL_TIMEOUT_S": "nan"}, "DB_POOL_TIMEOUT_S"),
    ({"SMTP_ADDR": "mail"}, "SMTP_ADDR"),
    ({"SMTP_ADDR": "mail:99999"}, "SMTP_ADDR"),
])
def test_bad_values_name_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        Config.from_env(env)


def test_blank_values_mean_default():
    assert Config.from_env({"THREADS": "  ", "MAIL_MODE": ""}).threads == 32


def test_request_overflow_and_limits():
    cfg = Config.from_env({})
    assert (cfg.request_overflow, cfg.mail_thread_limit, cfg.worker_connections, cfg.backlog) == ("wait", 0, 1000, 1024)
    cfg = Config.from_env({"REQUEST_OVERFLOW": "reject", "MAIL_THREAD_LIMIT": "80", "WORKER_CONNECTIONS": "64",
                           "BACKLOG": "64"})
    assert (cfg.request_overflow, cfg.mail_thread_limit, cfg.worker_connections, cfg.backlog) == ("reject", 80, 64, 64)
    with pytest.raises(ConfigError, match="REQUEST_OVERFLOW"):
        Config.from_env({"REQUEST_OVERFLOW": "drop"})
