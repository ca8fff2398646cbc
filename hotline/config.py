"""Settings from ``HOTLINE_*`` environment variables and an optional ``.env`` file.

Every default is an embedded one (SQLite under ``var/``, the built-in PBX simulator
when no AMI host is set). Secrets are never constants in code: an unset session
secret is generated once and stored in ``var/session_secret`` (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def write_private_file(path: Path, text: str) -> None:
    """Create ``path`` readable and writable by its owner only (0600) and write ``text``;
    refuses to overwrite (O_EXCL), so a secret is never silently replaced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="runtime state: SQLite file, secrets, recordings")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = sqlite file under var_dir")
    rules_file: Path = Field(default=PROJECT_ROOT / "routing_rules.yaml")
    timezone: str = "Asia/Shanghai"

    ami_host: str = ""                       # empty = start the built-in PBX simulator
    ami_port: int = 5038
    ami_username: str = "hotline"
    ami_secret: SecretStr = SecretStr("")

    agi_host: str = "127.0.0.1"
    agi_port: int = 4573

    node_url: str = Field(default="", description="how the other hotline processes reach this one "
                                                 "(e.g. http://10.0.0.5:8000); default http://<web host>:<port>")
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    session_secret: SecretStr = SecretStr("")
    cookie_secure: str = Field(default="auto", pattern="^(auto|always|never)$",
                               description="Secure flag of the session cookie: auto = when served over HTTPS")
    trusted_proxies: str = Field(default="", description="reverse proxies whose X-Forwarded-For/-Proto are "
                                                         "believed: comma-separated addresses, or *")
    body_limits: str = Field(default="", description="extra request body limits, checked before the defaults: "
                                                     "/tickets/*/attachments=32M;/api/import=2M")
    write_lanes: int = Field(default=0, ge=0, description="worker threads for request handlers that write; "
                                                         "0 = measured default (SQLite 1, PostgreSQL 2)")

    demo_call_rate: float = Field(default=0.2, description="simulated calls per second in demo mode")
    demo_max_calls: int = Field(default=50, ge=1, le=5000,
                                description="demo mode: at most this many simulated calls at once (load tests raise it)")
    dialplan_dir: Path | None = Field(default=None, description="with Asterisk: where a rules reload renders the "
                                                                 "dialplan (the directory Asterisk includes)")
    dialplan_agi_host: str = Field(default="", description="FastAGI host as Asterisk reaches this app, for a "
                                                           "reload's dialplan (default: agi_host)")
    map_tile_url: str = Field(default="", description="an intranet map tile server, e.g. "
                                                        "http://gis.local/tiles/{z}/{x}/{y}.png; empty = the grid "
                                                        "polygons on a plain background")
    bus_queue_size: int = Field(default=10_000, ge=10, description="events buffered per subscriber of the "
                                                                    "telephony event bus before it resynchronises")

    speech_model: Path | None = Field(default=None, description="a Vosk model directory (speech extra); unset = "
                                                                "menus by keypad only, no transcription")
    speech_min_confidence: float = Field(default=0.6, ge=0.0, le=1.0, description="a spoken keyword below this "
                                                                                  "confidence asks for a key")
    speech_workers: int = Field(default=2, ge=1, le=16, description="threads decoding speech (menus and "
                                                                    "transcription share them)")
    speech_record_dir: str = Field(default="/var/spool/asterisk/hl12319-speech",
                                   description="where Asterisk records what a caller says at a menu")
    speech_local_dir: Path | None = Field(default=None, description="the same directory as this process reads "
                                                                     "it (default: speech_record_dir)")
    speech_path_map: str = Field(default="", description="recording paths as the PBX writes them → as this "
                                                         "process reads them: /var/spool/asterisk=/srv/spool;…")
    speech_transcribe_interval: float = Field(default=30.0, gt=0, description="seconds between transcription "
                                                                              "rounds (a message wakes it at once)")

    twilio_voice: bool = Field(default=False, description="answer Twilio voice webhooks at /twilio/voice "
                                                          "(the IVR over Twilio; needs HOTLINE_TWILIO_AUTH_TOKEN)")
    twilio_auth_token: SecretStr = Field(default=SecretStr(""), description="the Twilio account's auth token "
                                                                            "(signatures; also the SMS gateway's)")
    twilio_public_url: str = Field(default="", description="the base URL configured at Twilio, e.g. "
                                                           "https://hotline.example.gov.cn (signature checks)")
    twilio_prompt_url: str = Field(default="", description="base URL of the prompt WAVs for <Play>; empty = <Say>")

    attachments_dir: Path | None = Field(default=None, description="ticket photos (处置前后照片); "
                                                                    "empty = <var_dir>/attachments")
    recordings_dir: Path = Field(default=Path("/var/spool/asterisk"),
                                 description="call recordings and messages Asterisk writes (the console plays "
                                             "only files under this directory)")

    sms_gateway: str = Field(default="log", pattern="^(log|twilio)$",
                             description="log (development) or twilio (HOTLINE_TWILIO_* variables)")
    notify_role_numbers: str = Field(default="", description="supervisor=138…,139…;dispatcher=…")
    scheduler_interval: float = Field(default=60.0, gt=0, description="SLA sweep / SMS sender period, seconds")
    sample_data: bool = Field(default=True, description="load sample data on first start")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        ZoneInfo(v)  # raises for an unknown zone
        return v

    # -- derived --------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'hotline.sqlite3').resolve()}"

    @property
    def effective_node_url(self) -> str:
        if self.node_url:
            return self.node_url.rstrip("/")
        host = "127.0.0.1" if self.web_host in ("", "0.0.0.0", "::") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def effective_attachments_dir(self) -> Path:
        return self.attachments_dir if self.attachments_dir is not None else self.var_dir / "attachments"

    @property
    def telephony_mode(self) -> str:
        return "asterisk" if self.ami_host else "simulator"

    def ensure_var_dir(self) -> Path:
        """``var/`` for runtime state, created readable by its owner only (0700)."""
        if not self.var_dir.exists():
            self.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.var_dir, 0o700)     # mkdir's mode is filtered by the umask
        return self.var_dir

    def session_secret_value(self) -> str:
        """The configured secret, or one generated once and kept in ``var/session_secret``."""
        if self.session_secret.get_secret_value():
            return self.session_secret.get_secret_value()
        path = self.ensure_var_dir() / "session_secret"
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(48)
        write_private_file(path, value)
        return value

    def masked(self) -> dict[str, str]:
        """Effective settings for display, secrets masked."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = "********" if value.get_secret_value() else "(unset)"
                if name == "session_secret" and not value.get_secret_value():
                    shown = "(generated, stored in var/session_secret)"
                out[name] = shown
            else:
                out[name] = str(value)
        out["database_url"] = mask_url(self.effective_database_url)
        out["telephony_mode"] = self.telephony_mode
        return out


def mask_url(url: str) -> str:
    """Hide the password of a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


@lru_cache
def get_settings() -> Settings:
    return Settings()
