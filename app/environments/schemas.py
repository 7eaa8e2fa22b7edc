from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, field_validator

from app.core.merge_patch import MERGE_PATCH_HELP
from app.core.schemas import InputModel, Name, PatchModel, ReadModel, Timestamps, VariableMap
from app.engine.masking import MIN_SECRET_LENGTH

SECRET_MASK = "******"


def _check_base_url(value: str) -> str:
    value = value.strip()
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValueError("base_url must start with http:// or https:// (or be empty)")
    if any(ch.isspace() for ch in value):
        raise ValueError("base_url contains whitespace")
    return value.rstrip("/")


def _check_proxy(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value.lower().startswith(("http://", "https://", "socks5://", "socks5h://")):
        raise ValueError("proxy must be a URL starting with http://, https://, socks5:// or socks5h://")
    return value


def _check_secret(value: str) -> str:
    """A secret is masked in every record; a short one cannot be (masking `a` would hide every letter a)."""
    if 0 < len(value) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"a secret needs at least {MIN_SECRET_LENGTH} characters (this one has {len(value)}): a shorter one "
            "could not be masked in run records"
        )
    return value


BaseUrl = Annotated[str, Field(max_length=2048), AfterValidator(_check_base_url)]
SecretValue = Annotated[str, AfterValidator(_check_secret)]
Proxy = Annotated[str | None, Field(max_length=2048), AfterValidator(_check_proxy)]


class EnvironmentCreate(InputModel):
    name: Name
    base_url: BaseUrl = ""
    variables: VariableMap = Field(default_factory=dict)
    secret_variables: dict[str, SecretValue] = Field(
        default_factory=dict, description=f"Write-only values, at least {MIN_SECRET_LENGTH} characters each."
    )
    verify_tls: bool = True
    proxy: Proxy = None

    @field_validator("secret_variables")
    @classmethod
    def _no_mask_on_create(cls, value: dict[str, str]) -> dict[str, str]:
        for key, secret in value.items():
            if secret == SECRET_MASK:
                raise ValueError(f"secret '{key}' is the mask '{SECRET_MASK}'; send the real value")
        return value


class EnvironmentUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"proxy"})

    name: Name | None = None
    base_url: BaseUrl | None = None
    variables: VariableMap | None = Field(None, description=f"Variables to change. {MERGE_PATCH_HELP}")
    secret_variables: dict[str, SecretValue | None] | None = Field(
        None,
        description=f"Secrets to change. {MERGE_PATCH_HELP} A secret sent as '{SECRET_MASK}' keeps its stored value.",
    )
    verify_tls: bool | None = None
    proxy: Proxy = None


class EnvironmentRead(Timestamps):
    id: int
    project_id: int
    name: str
    base_url: str
    variables: dict[str, Any]
    secret_variables: dict[str, str]
    verify_tls: bool
    proxy: str | None
    version: int

    @field_validator("secret_variables", mode="before")
    @classmethod
    def _mask(cls, value: dict[str, Any]) -> dict[str, str]:
        return dict.fromkeys(value, SECRET_MASK)


__all__ = ["SECRET_MASK", "EnvironmentCreate", "EnvironmentRead", "EnvironmentUpdate", "ReadModel"]
