"""Imports every ORM module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from gateway.clients import models as clients_models
from gateway.console import models as console_models
from gateway.exchange import models as exchange_models
from gateway.ledger import models as ledger_models
from gateway.records import models as records_models

__all__ = ["clients_models", "console_models", "exchange_models", "ledger_models", "records_models"]
