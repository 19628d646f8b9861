"""AES-GCM sealing of secrets (SPEC §2, DESIGN §7).

A sealed value is ``enc:v1:<base64(nonce(12) ‖ ciphertext+tag)>``, encrypted under the 32-byte key in the key
file beside the config (created with O_EXCL, mode 0600) with the key file's absolute path as associated data,
so a ciphertext copied next to another key does not open. ``cryptography`` is imported inside the functions:
read-only CLI commands never load it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from rrasctl.errors import RrasctlError, ValidationError

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(key_path: Path) -> bytes:
    return str(Path(os.path.abspath(key_path))).encode()


def load_key(key_path: str | os.PathLike) -> bytes:
    """Read the key file; a missing or damaged key is a runtime error (exit 1)."""
    path = Path(key_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RrasctlError(f"secrets key {path} is missing",
                           hint="the secrets in the config cannot be opened without it; set them again") from None
    if len(data) != KEY_BYTES:
        raise RrasctlError(f"secrets key {path} is damaged (expected {KEY_BYTES} bytes)")
    return data


def ensure_key(key_path: str | os.PathLike) -> bytes:
    """The key, creating the key file (O_EXCL, 0600) if it does not exist yet."""
    path = Path(key_path)
    if path.exists():
        return load_key(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = os.urandom(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use theirs
        return load_key(path)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def seal_secret(key_path: str | os.PathLike, plain: str) -> str:
    """Encrypt PLAIN under the key at KEY_PATH (created if absent); returns the ``enc:v1:`` string."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = ensure_key(key_path)
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(key).encrypt(nonce, plain.encode("utf-8"), _aad(Path(key_path)))
    return PREFIX + base64.b64encode(nonce + ct).decode("ascii")


def open_secret(key_path: str | os.PathLike, sealed: str) -> str:
    """Decrypt a sealed value; raises RrasctlError (never showing the value) if it does not open."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not is_sealed(sealed):
        raise ValidationError("a secret in the config is not sealed (expected enc:v1:…)")
    try:
        blob = base64.b64decode(sealed[len(PREFIX):], validate=True)
    except ValueError:
        raise ValidationError("a sealed secret in the config is not valid base64") from None
    if len(blob) < NONCE_BYTES + 16:
        raise ValidationError("a sealed secret in the config is too short")
    key = load_key(key_path)
    try:
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(Path(key_path)))
    except InvalidTag:
        raise RrasctlError(f"a secret does not open with the key {key_path}",
                           hint="was the config copied without its key? set the secret again") from None
    return plain.decode("utf-8")
