"""gunicorn entry point: `ticketing.wsgi:application`."""

import logging
import os

from .app import TicketingApp
from .config import Config

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")

application = TicketingApp(Config.from_env(os.environ))
application.start()
