"""Import every model so the metadata is complete (Alembic, create_all, tests)."""

from hotline.calls.models import Call  # noqa: F401
from hotline.cases.models import (  # noqa: F401
    Ticket, TicketDeadline, TicketEvent, TicketNumberSequence, TicketSubscription,
)
from hotline.categories.models import Category  # noqa: F401
from hotline.database import Base  # noqa: F401
from hotline.departments.models import Department  # noqa: F401
from hotline.grid.models import GridUnit  # noqa: F401
from hotline.users.models import User  # noqa: F401
from hotline.notify.models import Notification  # noqa: F401
