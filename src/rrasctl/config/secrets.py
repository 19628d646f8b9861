"""AES-GCM sealing of secrets (SPEC §2, DESIGN §7), with the key file's identity beside each value.

A sealed value is ``enc:v2:<key id>:<base64(nonce(12) ‖ ciphertext+tag)>``: AES-GCM under the 32-byte key in the
key file beside the config (created with O_EXCL, mode 0600); the associated data binds the key id and the key file's
absolute path, so a ciphertext copied next to another key does not open. The key id is the first 16 hex digits of
SHA-256("rrasctl key id" ‖ key): it names the key without revealing anything about it, so a missing or replaced key
is detected without decrypting anything (docs/decisions/0141-secrets-key-identity.md).

Values of the first format, ``enc:v1:<base64>`` (associated data: the key path only, no key id), still open; a
command that seals a secret re-seals every v1 value it can open as v2 in the same write. A command that seals never
creates a new key while the config holds sealed secrets: a missing or different key is an error
(`SecretUnavailable`) until the operator restores the key or runs ``rrasctl config rekey --reset-secrets``.

``cryptography`` is imported inside the functions that encrypt or decrypt: read-only CLI commands never load it; the
key checks use hashlib only.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rrasctl.errors import SecretUnavailable

PREFIX_V1 = "enc:v1:"
PREFIX_V2 = "enc:v2:"
PREFIXES = (PREFIX_V1, PREFIX_V2)
PREFIX = PREFIX_V2            # what seal_secret writes
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_HEX = 16
REKEY_SUFFIX = ".new"         # `config rekey` writes the new key here first, then renames it into place
RESET_HINT = ("restore the key file from a backup, or start over with `rrasctl config rekey --reset-secrets` "
              "(the sealed secrets are then removed and must be set again)")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIXES)


def key_id(key: bytes) -> str:
    """The key's public name: 16 hex digits of SHA-256 over a label and the key."""
    import hashlib

    return hashlib.sha256(b"rrasctl key id\0" + key).hexdigest()[:KEY_ID_HEX]


def sealed_key_id(sealed: str) -> str | None:
    """The key id a v2 value names (None for v1 values, which name none)."""
    if sealed.startswith(PREFIX_V2):
        kid = sealed[len(PREFIX_V2):].split(":", 1)[0]
        return kid or None
    return None


def _abs(key_path: str | os.PathLike) -> str:
    return str(Path(os.path.abspath(key_path)))


def _aad_v1(key_path: str | os.PathLike) -> bytes:
    return _abs(key_path).encode()


def _aad_v2(key_path: str | os.PathLike, kid: str) -> bytes:
    return b"rrasctl secret v2\0" + kid.encode() + b"\0" + _abs(key_path).encode()


# ---------------------------------------------------------------------------------------------------- the key file
def load_key(key_path: str | os.PathLike) -> bytes:
    """Read the key file; a missing, unreadable or damaged key raises SecretUnavailable (exit 1)."""
    path = Path(key_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SecretUnavailable(f"the secrets key {path} is missing", hint=RESET_HINT) from None
    except OSError as exc:
        raise SecretUnavailable(f"cannot read the secrets key {path}: {exc.strerror or exc}") from None
    if len(data) != KEY_BYTES:
        raise SecretUnavailable(f"the secrets key {path} is damaged (expected {KEY_BYTES} bytes, found {len(data)})",
                                hint=RESET_HINT)
    return data


def _write_key(path: Path, key: bytes, *, exclusive: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_key(key_path: str | os.PathLike) -> bytes:
    """The key, creating the key file (O_EXCL, 0600) if it does not exist yet. Callers that seal into a config use
    `Sealer`, which refuses to create a key while sealed secrets exist."""
    path = Path(key_path)
    if path.exists():
        return load_key(path)
    key = os.urandom(KEY_BYTES)
    try:
        _write_key(path, key, exclusive=True)
    except FileExistsError:  # another process won the race: use theirs
        return load_key(path)
    return key


# ---------------------------------------------------------------------------------------------------- seal / open
def seal_with(key: bytes, key_path: str | os.PathLike, plain: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kid = key_id(key)
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(key).encrypt(nonce, plain.encode("utf-8"), _aad_v2(key_path, kid))
    return f"{PREFIX_V2}{kid}:" + base64.b64encode(nonce + ct).decode("ascii")


def seal_secret(key_path: str | os.PathLike, plain: str) -> str:
    """Encrypt PLAIN under the key at KEY_PATH (created if absent); returns the ``enc:v2:`` string."""
    return seal_with(ensure_key(key_path), key_path, plain)


def _blob(sealed: str) -> tuple[str | None, bytes]:
    if sealed.startswith(PREFIX_V2):
        kid, sep, b64 = sealed[len(PREFIX_V2):].partition(":")
        if not sep or len(kid) != KEY_ID_HEX:
            raise SecretUnavailable("a sealed secret in the config is damaged (no key id)",
                                    hint="set the secret again")
    elif sealed.startswith(PREFIX_V1):
        kid, b64 = None, sealed[len(PREFIX_V1):]
    else:
        raise SecretUnavailable("a secret in the config is not sealed (expected enc:v2:…)",
                                hint="set it with rrasctl, never by hand")
    try:
        blob = base64.b64decode(b64, validate=True)
    except ValueError:
        raise SecretUnavailable("a sealed secret in the config is damaged (not valid base64)",
                                hint="set the secret again") from None
    if len(blob) < NONCE_BYTES + 16:
        raise SecretUnavailable("a sealed secret in the config is damaged (too short)", hint="set the secret again")
    return kid, blob


def open_with(key: bytes, key_path: str | os.PathLike, sealed: str) -> str:
    """Decrypt with a key already read; SecretUnavailable (never showing the value) if it does not open."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kid, blob = _blob(sealed)
    if kid is not None and kid != key_id(key):
        raise SecretUnavailable(_wrong_key(key_path, kid, key_id(key)), hint=RESET_HINT)
    aad = _aad_v1(key_path) if kid is None else _aad_v2(key_path, kid)
    try:
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise SecretUnavailable(f"a secret does not open with the key {key_path}",
                                hint="was the config copied without its key? " + RESET_HINT) from None
    return plain.decode("utf-8")


def open_secret(key_path: str | os.PathLike, sealed: str) -> str:
    """Decrypt a sealed value; raises SecretUnavailable (a RrasctlError naming the key file and why, never the
    value) when the key is missing, damaged or not the one the value was sealed with, or the value is damaged."""
    if not is_sealed(sealed):
        raise SecretUnavailable("a secret in the config is not sealed (expected enc:v2:…)",
                                hint="set it with rrasctl, never by hand")
    _blob(sealed)                      # a damaged value is named before the key is looked at
    return open_with(load_key(key_path), key_path, sealed)


def _wrong_key(key_path: str | os.PathLike, sealed_with: str, have: str) -> str:
    return (f"the secrets key {key_path} is not the key the config's secrets were sealed with "
            f"(they name key {sealed_with}; the file holds key {have})")


# ---------------------------------------------------------------------------------------------------- the config
def find_sealed(tree: Any, where: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, value) of every sealed value in a config tree (plain dicts and lists, or tomlkit's)."""
    if hasattr(tree, "items"):
        for k, v in tree.items():
            yield from find_sealed(v, (*where, str(k)))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from find_sealed(v, (*where, i))
    elif is_sealed(tree):
        yield where, str(tree)


def _plain(doc: Any) -> Any:
    return doc.unwrap() if hasattr(doc, "unwrap") else doc


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@dataclass(frozen=True)
class KeyProblem:
    """Why the config's sealed secrets cannot be opened with the key file (`config check`, sealing commands)."""

    message: str
    unopenable: tuple[str, ...]        # dotted key paths
    hint: str = RESET_HINT

    def error(self) -> SecretUnavailable:
        return SecretUnavailable(self.message, hint=self.hint)


def check_key(key_path: str | os.PathLike, sealed: list[tuple[tuple[str | int, ...], str]], *,
              open_all: bool = False) -> KeyProblem | None:
    """Can the sealed values be opened with the key file? v2 values are checked by key id (no decryption); v1
    values, which carry no id, are opened (imports cryptography), as is every value with `open_all`."""
    if not sealed:
        return None
    names = tuple(dotted(p) for p, _ in sealed)
    try:
        key = load_key(key_path)
    except SecretUnavailable as exc:
        return KeyProblem(f"{len(sealed)} sealed secret(s) cannot be opened: {exc.message}", names, _hint(key_path))
    have = key_id(key)
    bad: list[str] = []
    named: set[str] = set()
    for (p, value), name in zip(sealed, names):
        kid = sealed_key_id(value)
        if kid is not None and kid != have:
            bad.append(name)
            named.add(kid)
        elif kid is None or open_all:
            try:
                open_with(key, key_path, value)
            except SecretUnavailable:
                bad.append(name)
    if not bad:
        return None
    if named:
        why = _wrong_key(key_path, ", ".join(sorted(named)), have)
    else:
        why = f"they do not open with the key {key_path}"
    return KeyProblem(f"{len(bad)} sealed secret(s) cannot be opened ({', '.join(bad)}): {why}", tuple(bad),
                      _hint(key_path))


def _hint(key_path: str | os.PathLike) -> str:
    path = Path(key_path)
    pending = path.with_name(path.name + REKEY_SUFFIX)
    if pending.exists():
        return f"an interrupted `rrasctl config rekey` left {pending}: move it to {path}"
    return RESET_HINT


class Sealer:
    """Sealing inside one locked config edit (`App.seal`): never creates a key while sealed secrets exist, refuses
    a key that is not theirs, and re-seals the v1 values of the document as v2 in the same write."""

    def __init__(self, key_path: str | os.PathLike, edit: Any) -> None:
        self.key_path = key_path
        self.edit = edit
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            existing = list(find_sealed(_plain(self.edit.doc) if self.edit is not None else {}))
            if existing or Path(self.key_path).exists():
                problem = check_key(self.key_path, existing)
                if problem is not None:
                    raise SecretUnavailable(
                        f"refusing to seal a new secret: {problem.message}; a new key would make them unreadable "
                        "for good", hint=problem.hint)
                self._key = load_key(self.key_path)
            else:
                self._key = ensure_key(self.key_path)
            self._migrate(existing)
        return self._key

    def seal(self, plain: str) -> str:
        return seal_with(self.key(), self.key_path, plain)

    def _migrate(self, existing: list[tuple[tuple[str | int, ...], str]]) -> None:
        assert self._key is not None
        for path, value in existing:
            if value.startswith(PREFIX_V1) and all(isinstance(p, str) for p in path):
                plain = open_with(self._key, self.key_path, value)
                self.edit.set([str(p) for p in path], seal_with(self._key, self.key_path, plain))


def rekey(key_path: str | os.PathLike, edit: Any, *, reset: bool) -> tuple[list[str], list[str]]:
    """`rrasctl config rekey`: a new key, under the config lock held by `edit`. Without `reset` every secret is
    opened with the current key and re-sealed under the new one (any that does not open: SecretUnavailable, nothing
    changes); with `reset` every sealed secret is removed. Returns (re-sealed, removed) key paths.

    The new key is written to ``<key>.new`` first; the caller writes the config (leaving the `with`), then calls
    `commit_rekey` to rename it into place (an interruption in between is named by `check_key`)."""
    existing = list(find_sealed(_plain(edit.doc)))
    new_key = os.urandom(KEY_BYTES)
    resealed: list[str] = []
    removed: list[str] = []
    if reset:
        for path, _value in existing:
            edit.delete([str(p) for p in path])
            removed.append(dotted(path))
    else:
        problem = check_key(key_path, existing, open_all=True)
        if problem is not None:
            raise SecretUnavailable(f"cannot re-seal: {problem.message}",
                                    hint="restore the key file, or drop the secrets with `rrasctl config rekey "
                                         "--reset-secrets`")
        key = load_key(key_path) if existing else b""
        for path, value in existing:
            plain = open_with(key, key_path, value)
            edit.set([str(p) for p in path], seal_with(new_key, key_path, plain))
            resealed.append(dotted(path))
    pending = Path(key_path).with_name(Path(key_path).name + REKEY_SUFFIX)
    _write_key(pending, new_key, exclusive=False)
    return resealed, removed


def commit_rekey(key_path: str | os.PathLike) -> None:
    path = Path(key_path)
    pending = path.with_name(path.name + REKEY_SUFFIX)
    os.replace(pending, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def abandon_rekey(key_path: str | os.PathLike) -> None:
    path = Path(key_path)
    try:
        os.unlink(path.with_name(path.name + REKEY_SUFFIX))
    except FileNotFoundError:
        pass

