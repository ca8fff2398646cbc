"""Service-level time: working-time calendar (holidays, 调休, office hours) and stage deadlines.

Pure computation; persisting deadlines and sweeping for warnings/escalations
is done elsewhere on top of these functions.
"""

from .calendar import (
    DEFAULT_OFFICE_HOURS,
    CalendarCoverage,
    CalendarNotCovered,
    NaiveDatetimeError,
    WorkCalendar,
    official_package_years,
)
from .deadlines import (
    DEFAULT_WARNING_FRACTION,
    ClockStateError,
    SlaStatus,
    Stage,
    StageClock,
    TimeUnit,
    compute_deadline,
)

__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "DEFAULT_WARNING_FRACTION",
    "CalendarCoverage",
    "CalendarNotCovered",
    "ClockStateError",
    "NaiveDatetimeError",
    "SlaStatus",
    "Stage",
    "StageClock",
    "TimeUnit",
    "WorkCalendar",
    "compute_deadline",
    "official_package_years",
]
