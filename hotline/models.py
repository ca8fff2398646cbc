"""Import every model so the metadata is complete (Alembic, create_all, tests)."""

from hotline.calls.models import Call  # noqa: F401
from hotline.cases.models import (  # noqa: F401
    Ticket, TicketAttachment, TicketDeadline, TicketEvent, TicketNumberSequence, TicketSubscription,
)
from hotline.categories.models import Category  # noqa: F401
from hotline.database import Base  # noqa: F401
from hotline.departments.models import Department  # noqa: F401
from hotline.grid.models import GridUnit  # noqa: F401
from hotline.users.models import User, UserSession  # noqa: F401
from hotline.notify.models import ConsoleNotice, Notification  # noqa: F401
from hotline.audit.models import AuditEntry  # noqa: F401
from hotline.metrics.models import CallHour, RollupState, TicketFact, TransferHour  # noqa: F401
