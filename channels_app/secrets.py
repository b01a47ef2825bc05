"""Channel credentials and webhook secrets, encrypted at rest with rotatable Fernet keys.

HUB_ENCRYPTION_KEYS is a comma-separated list: the first key encrypts, every key decrypts, so a
new key is rotated in by putting it first and running `manage.py rotate_secrets`, which re-encrypts
every stored value with it; the old key can then be dropped.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "HUB_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64 bytes each); make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.HUB_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key in HUB_ENCRYPTION_KEYS "
            "(was a key removed before `rotate_secrets` ran?)"
        ) from exc


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text value stored as a Fernet token; '' stays '' so "no secret" is visible in the row."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        return encrypt(value) if value else value


if TYPE_CHECKING:
    _DictField = models.Field[dict[str, Any], dict[str, Any]]
else:
    _DictField = models.Field


class EncryptedJSONField(_DictField):
    """A JSON object stored as one Fernet token in a text column (credentials: tokens, keys)."""

    def get_internal_type(self) -> str:
        return "TextField"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict[str, Any]:
        return json.loads(decrypt(value)) if value else {}

    def to_python(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        return json.loads(value) if value else {}

    def get_prep_value(self, value: Any) -> str:
        return encrypt(json.dumps(value or {}, sort_keys=True)) if value else ""
