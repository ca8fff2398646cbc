"""Shape of ``routing_rules.yaml``, schema version 1 (pydantic v2 models).

Every model forbids unknown fields and is frozen. These models check shape, types and
formats of single values; references between sections (departments named by a rule,
menus named by an option, ...) are checked in :mod:`hotline.rules.checks`.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, time
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hotline.users.roles import Role
from ivr.api import MenuAction
from ivr.directory import DistrictLine

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- scalar types -------------------------------------------------------------------------------

def _quoted(value: Any) -> Any:
    """Codes must be YAML strings: unquoted ``01001`` is read by YAML as the octal number 513."""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        raise ValueError(f"must be a quoted string, e.g. \"{value}\" (YAML reads unquoted digits as a number)")
    return value


def _pattern(regex: str, what: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _digit(value: Any) -> Any:
    """A DTMF key; an unquoted single digit is accepted and turned into text."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Text = Annotated[str, Field(min_length=1)]
DistrictCode = Annotated[str, BeforeValidator(_quoted), _pattern(r"\d{6}", "a 6-digit district code")]
StreetCode = Annotated[str, BeforeValidator(_quoted), _pattern(r"\d{9}", "a 9-digit street/town code")]
CategoryCode = Annotated[str, BeforeValidator(_quoted), _pattern(r"\d{5}", "a 5-digit category code")]
CategoryPrefix = Annotated[str, BeforeValidator(_quoted), _pattern(r"\d{1,4}", "a category code prefix of 1-4 digits")]
Identifier = Annotated[str, _pattern(r"[a-z0-9][a-z0-9_-]{0,39}", "an identifier (lower-case letters, digits, '-', '_')")]
PhoneNumber = Annotated[
    str, BeforeValidator(_quoted),
    _pattern(r"0\d{2,3}-?\d{7,8}|1\d{10}|\d{3,6}", "a phone number such as \"0476-8812319\""),
]
Digit = Annotated[str, BeforeValidator(_digit), _pattern(r"[0-9*#]", "a single DTMF key (0-9, * or #)")]
SoundFile = Annotated[str, _pattern(r"[A-Za-z0-9_][A-Za-z0-9_/-]*", "a sound file name without extension")]
Amount = Annotated[float, Field(gt=0)]
Percent = Annotated[int, Field(gt=0, lt=100)]


class TimeUnit(str, Enum):
    """The unit of a time limit (the one definition; :mod:`hotline.sla` computes with it)."""

    NATURAL_HOURS = "natural_hours"    # 小时: elapsed time, nights and holidays included
    WORKING_HOURS = "working_hours"    # 工作小时: office hours of working days
    WORKING_DAYS = "working_days"      # 工作日: statutory holidays and 调休 respected

    @property
    def label(self) -> str:
        """The unit's name as staff read it (a table column, a setting)."""
        return _TIME_UNIT_LABELS[self][0]

    def amount_text(self, amount: float) -> str:
        """An amount in this unit as staff read it: 24小时, 4工作小时, 5个工作日."""
        return f"{amount:g}{_TIME_UNIT_LABELS[self][1]}"

    @classmethod
    def parse(cls, value: "TimeUnit | str") -> "TimeUnit":
        if isinstance(value, TimeUnit):
            return value
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(u.value for u in cls)
            raise ValueError(f"unknown time-limit unit {value!r}; expected one of: {allowed}") from None


_TIME_UNIT_LABELS = {   # (name, after an amount)
    TimeUnit.NATURAL_HOURS: ("自然小时", "小时"),
    TimeUnit.WORKING_HOURS: ("工作小时", "工作小时"),
    TimeUnit.WORKING_DAYS: ("工作日", "个工作日"),
}


class Priority(str, Enum):
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def label(self) -> str:
        return {"normal": "一般", "high": "较高", "urgent": "紧急"}[self.value]


class Kind(str, Enum):
    COMPONENT = "component"   # 管理部件
    MATTER = "matter"         # 管理事项


class Lead(str, Enum):
    OWNER = "owner"           # 先属主后属地: the department (owner/maintainer) leads
    TERRITORY = "territory"   # 先属地后属主: the street office of the place leads


# --- time -----------------------------------------------------------------------------------------

_SPAN = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")


class TimeSpan(_Model):
    """A daily span, written ``"08:30-12:00"``; ``end`` before ``start`` wraps past midnight."""

    start: time
    end: time          # 24:00 is stored as time.max
    wraps: bool

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if not isinstance(value, str):
            raise ValueError('must be a quoted time span such as "08:30-12:00"')
        m = _SPAN.fullmatch(value.replace(" ", ""))
        if not m or (m.group(3) == "24" and m.group(4) != "00"):
            raise ValueError(f"{value!r} is not a time span such as \"08:30-12:00\"")
        start = time(int(m.group(1)), int(m.group(2)))
        end = time.max if m.group(3) == "24" else time(int(m.group(3)), int(m.group(4)))
        if start == end:
            raise ValueError(f"{value!r} is empty: start equals end")
        return {"start": start, "end": end, "wraps": end < start}

    def contains(self, t: time) -> bool:
        if self.wraps:
            return t >= self.start or t < self.end
        return self.start <= t < self.end

    def __str__(self) -> str:
        end = "24:00" if self.end == time.max else self.end.strftime("%H:%M")
        return f"{self.start:%H:%M}-{end}"


def _ordered_within_day(spans: tuple[TimeSpan, ...]) -> tuple[TimeSpan, ...]:
    for span in spans:
        if span.wraps:
            raise ValueError(f"{span} wraps past midnight; office hours must lie within one day")
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end:
            raise ValueError(f"{a} and {b} overlap or are out of order")
    return spans


DaySpans = Annotated[tuple[TimeSpan, ...], AfterValidator(_ordered_within_day)]


class Duration(_Model):
    amount: Annotated[float, Field(ge=0)]
    unit: TimeUnit


class Stage(_Model):
    """One deadline of a case: ``{stage: 处置, amount: 5, unit: working_days}``."""

    stage: Text                # 签收, 处置, 核查, 回访, or a sub-stage such as 停工/处罚/拆除
    amount: Amount
    unit: TimeUnit


def _unique_stages(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    seen: set[str] = set()
    for s in stages:
        if s.stage in seen:
            raise ValueError(f"stage {s.stage!r} is listed twice")
        seen.add(s.stage)
    return stages


Stages = Annotated[tuple[Stage, ...], Field(min_length=1), AfterValidator(_unique_stages)]


class TimeLimitSet(_Model):
    """Named stage deadlines per priority; a priority without its own list uses ``normal``."""

    label: Text
    normal: Stages
    high: Stages | None = None
    urgent: Stages | None = None

    def for_priority(self, priority: Priority) -> tuple[Stage, ...]:
        return getattr(self, priority.value) or self.normal


class Calendar(_Model):
    timezone: Text = "Asia/Shanghai"
    # "holidays" (the python-holidays package: official schedules, later years estimated) or
    # "none"; "chinese_calendar" is the name of earlier versions and means "holidays" (decision 0007)
    holiday_source: Literal["holidays", "chinese_calendar", "none"] = "holidays"
    office_hours: DaySpans = Field(min_length=1)
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    # Years whose official schedule the operator enters by hand (extra_holidays/extra_workdays)
    # before the holidays package has it; weekends are rest days there otherwise.
    local_years: tuple[Annotated[int, Field(ge=2000, le=2100)], ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Calendar:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            raise ValueError(f"{both[0]} is listed both as an extra holiday and as an extra workday")
        if self.holiday_source == "chinese_calendar":
            object.__setattr__(self, "holiday_source", "holidays")
        return self


class BusinessHours(_Model):
    """When the phone centre's agents answer. ``always`` = 7×24."""

    mode: Literal["always", "scheduled"]
    hours: DaySpans = ()
    days: Literal["every_day", "working_days"] = "every_day"

    @model_validator(mode="after")
    def _check(self) -> BusinessHours:
        if self.mode == "scheduled" and not self.hours:
            raise ValueError("mode 'scheduled' needs 'hours', e.g. [\"08:00-20:00\"]")
        if self.mode == "always" and self.hours:
            raise ValueError("mode 'always' takes no 'hours'")
        return self


# --- places and organisations ------------------------------------------------------------------

class District(_Model):
    code: DistrictCode
    name: Text
    line: PhoneNumber          # local receiving line that calls are transferred to
    trunk: Identifier          # Asterisk endpoint the line is dialled through
    menu_digit: Digit | None = None
    sms: PhoneNumber | None = None  # the district office's mobile for SMS notices (the line is a landline)

    def as_line(self) -> DistrictLine:
        return DistrictLine(self.code, self.name, self.line.replace("-", ""), self.menu_digit or "")


class Department(_Model):
    code: Identifier
    name: Text
    level: Literal["city", "district"]
    district: DistrictCode | None = None    # required for level 'district'
    parent: Identifier | None = None
    line: PhoneNumber | None = None
    sms: PhoneNumber | None = None

    @model_validator(mode="after")
    def _check(self) -> Department:
        if self.level == "district" and self.district is None:
            raise ValueError("a district-level department needs 'district'")
        if self.level == "city" and self.district is not None:
            raise ValueError("a city-level department takes no 'district'")
        return self


# --- case routing ---------------------------------------------------------------------------------

class TimeWindow(_Model):
    """When a rule applies; an hours span may wrap past midnight ("22:00-06:00")."""

    hours: Annotated[tuple[TimeSpan, ...], Field(min_length=1)] | None = None
    days: Literal["any", "working_days", "non_working_days"] = "any"


CategoryCodes = Annotated[tuple[CategoryCode, ...], BeforeValidator(_one_or_many)]
CategoryPrefixes = Annotated[tuple[CategoryPrefix, ...], BeforeValidator(_one_or_many)]


class Match(_Model):
    """All given conditions must hold; within one list, any entry may match.

    ``category`` and ``category_prefix`` are one condition: the code is listed or has a listed prefix.
    """

    category: CategoryCodes = ()
    category_prefix: CategoryPrefixes = ()
    kind: Kind | None = None
    districts: tuple[DistrictCode, ...] = ()
    streets: tuple[StreetCode, ...] = ()
    keywords: tuple[Text, ...] = ()      # any of them in the description
    time: TimeWindow | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if not (self.category or self.category_prefix or self.kind or self.districts
                or self.streets or self.keywords or self.time):
            raise ValueError("an empty match would catch every case; use routing.fallback instead")
        return self

    def category_matches(self, code: str) -> bool:
        """Whether ``code`` meets the category condition (true when the rule sets none)."""
        if not (self.category or self.category_prefix):
            return True
        return code in self.category or any(code.startswith(p) for p in self.category_prefix)


class RoutingRule(_Model):
    id: Identifier
    name: Text                         # shown in the routing explanation
    match: Match
    department: Identifier
    lead: Lead | None = None           # default: routing.defaults by kind
    street: StreetCode | None = None   # street override
    priority: Priority = Priority.NORMAL
    time_limits: Identifier
    note: str | None = None


class DoctrineDefaults(_Model):
    component: Lead = Lead.OWNER       # 部件 先属主后属地
    matter: Lead = Lead.TERRITORY      # 事项 先属地后属主


class Fallback(_Model):
    department: Identifier
    lead: Lead = Lead.TERRITORY
    priority: Priority = Priority.NORMAL
    time_limits: Identifier


class Routing(_Model):
    defaults: DoctrineDefaults = DoctrineDefaults()
    rules: tuple[RoutingRule, ...]
    fallback: Fallback


# --- telephony --------------------------------------------------------------------------------

class Queue(_Model):
    id: Identifier
    name: Text
    language: Literal["zh", "mn"] = "zh"
    strategy: Literal["ringall", "leastrecent", "fewestcalls", "random", "rrmemory",
                      "rrordered", "linear", "wrandom"] = "rrmemory"
    service_level_seconds: Annotated[int, Field(gt=0, le=600)] = 15
    max_wait_seconds: Annotated[int, Field(gt=0)] = 300
    wrapup_seconds: Annotated[int, Field(ge=0)] = 0


class MenuOption(_Model):
    digit: Digit
    label: Text
    action: MenuAction          # the IVR's own vocabulary (ivr.flow)
    menu: Identifier | None = None       # submenu
    queue: Identifier | None = None      # queue
    district: DistrictCode | None = None  # district_transfer
    language: Literal["zh", "mn"] | None = None   # switch prompt language before the action
    prompt: Text | None = None           # e.g. the ticket-number request for ticket_status
    keywords: tuple[Text, ...] = ()      # spoken words that select this option


class Menu(_Model):
    id: Identifier
    prompt: Text
    recording: SoundFile | None = None
    timeout_seconds: Annotated[int, Field(gt=0, le=60)] = 6
    max_retries: Annotated[int, Field(ge=0, le=5)] = 2
    invalid_prompt: Text
    timeout_prompt: Text
    options: tuple[MenuOption, ...] = Field(min_length=1)


class AfterHours(_Model):
    prompt: Text
    recording: SoundFile | None = None
    leave_message: bool = True
    max_message_seconds: Annotated[int, Field(gt=0, le=600)] = 120


class TransferFailed(_Model):
    prompt: Text
    queue: Identifier        # where the caller goes when the district line is busy or unanswered
    dial_timeout_seconds: Annotated[int, Field(gt=0, le=120)] = 30


class Ivr(_Model):
    menu_less: bool = False          # true: skip all menus, welcome prompt then straight to agent_queue
    language: Literal["zh", "mn"] = "zh"
    welcome: Text
    welcome_recording: SoundFile | None = None
    entry: Identifier
    agent_queue: Identifier          # where 0 leads in every menu
    after_hours: AfterHours
    transfer_failed: TransferFailed
    menus: tuple[Menu, ...] = Field(min_length=1)


# --- service levels and follow-up ------------------------------------------------------------------

class Escalation(_Model):
    level: Annotated[int, Field(ge=1)]
    name: Text                       # 催办, 督办, 通报
    after_deadline: Duration         # how long past the deadline (0 = at the deadline)
    notify_roles: tuple[Role, ...] = ()
    notify_departments: tuple[Identifier, ...] = ()
    sms: bool = False

    @model_validator(mode="after")
    def _someone(self) -> Escalation:
        if not (self.notify_roles or self.notify_departments):
            raise ValueError("an escalation level must notify someone (notify_roles or notify_departments)")
        return self


class Sla(_Model):
    clock_starts: Literal["dispatched", "accepted"] = "dispatched"
    warning_at_percent: Percent = 80
    warning_notify_roles: tuple[Role, ...] = (Role.DEPARTMENT_OFFICER,)
    escalation: tuple[Escalation, ...] = ()


class Duplicates(_Model):
    radius_metres: Annotated[int, Field(gt=0, le=5000)] = 250
    window_days: Annotated[int, Field(gt=0, le=365)] = 30
    same_category: bool = True


class Callbacks(_Model):
    due: Duration                    # after the ticket is resolved
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3


class NotificationEvent(str, Enum):
    TICKET_RECEIVED = "ticket_received"
    TICKET_DISPATCHED = "ticket_dispatched"
    TICKET_RESOLVED = "ticket_resolved"
    CALLBACK_SURVEY = "callback_survey"
    DEADLINE_WARNING = "deadline_warning"
    ESCALATION = "escalation"
    MESSAGE_RECEIVED = "message_received"


class Notifications(_Model):
    sms_sender: PhoneNumber
    templates: dict[NotificationEvent, Annotated[str, _pattern(r"[A-Za-z0-9_]{1,64}", "a template name")]]


# --- the whole file -----------------------------------------------------------------------------

class Rules(_Model):
    version: Literal[1]
    calendar: Calendar
    business_hours: BusinessHours
    districts: tuple[District, ...] = Field(min_length=1)
    departments: tuple[Department, ...] = Field(min_length=1)
    time_limits: dict[Identifier, TimeLimitSet] = Field(min_length=1)
    routing: Routing
    queues: tuple[Queue, ...] = Field(min_length=1)
    ivr: Ivr
    sla: Sla
    duplicates: Duplicates = Duplicates()
    callbacks: Callbacks
    notifications: Notifications

    def district(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def queue(self, queue_id: str) -> Queue | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def menu(self, menu_id: str) -> Menu | None:
        return next((m for m in self.ivr.menus if m.id == menu_id), None)

    def district_lines(self) -> list[DistrictLine]:
        return [d.as_line() for d in self.districts]
