"""Reading and changing the config file safely (SPEC §2, DESIGN §7).

- ``load(path) -> Config``: a missing file means defaults; TOML syntax errors name the line and column; validation
  names the key. Never writes.
- ``edit(path)``: a context manager holding an exclusive ``flock`` on the sibling lock file (``rrasctl.toml.lock``:
  every write replaces the config's inode, so locking the config itself would exclude no one) across the read, the
  change and the write. The file read must be valid (else ValidationError, exit 2, nothing written); changes are made on
  the tomlkit document at exact key paths so comments and layout survive; the result is validated, then written to a
  temp file in the same dir, fsynced, ``os.replace``d over the config and the dir fsynced. An exception inside the
  ``with`` block writes nothing.
- A config path that is a symbolic link is written through it: the lock file, the temp file and the replace are
  beside the file the link names, so the link stays a link and its target gets the change
  (docs/decisions/0146-symlinked-config-and-toml-errors.md). A link that loops is refused with a message.
- TOML syntax errors name the line and column; tomlkit reports an error at the end of the file at column 0 with the
  character '\x00', so those are placed just after the last character of the file and called "unexpected end of
  file".
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from rrasctl.config import installation
from rrasctl.config import migrate as _migrate
from rrasctl.config.model import Config, validate
from rrasctl.errors import RrasctlError, ValidationError

HEADER = "# rrasctl configuration: edit with rrasctl (comments you add here are kept).\n"
_TMP_SUFFIX = ".tmp"


def _parse(path: Path, text: str):
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as e:
        line, col, reason = _where(text, e)
        raise ValidationError(f"{path}: TOML syntax error at line {line}, column {col}: {reason}",
                              hint="fix the file by hand; rrasctl never overwrites an invalid file") from None


def _reason(e: Exception) -> str:
    msg = str(e)
    return msg.rsplit(" at line ", 1)[0] if " at line " in msg else msg


def _where(text: str, e: Any) -> tuple[int, int, str]:
    """(line, column from 1, reason) of a tomlkit ParseError. tomlkit marks the end of the input with '\x00' and
    reports errors there at column 0 ("Unexpected character: '\x00'", "Unexpected end of file"): those are put
    just after the last character of the file. A real NUL character is named where it is."""
    reason = _reason(e)
    eof = "'\\x00'" in reason or reason.startswith("Unexpected end of file")
    if not eof:
        return e.line, e.col + 1, reason
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        return line, nul - (text.rfind("\n", 0, nul) + 1) + 1, "a NUL character (the file is not text)"
    body = text.rstrip()
    line = body.count("\n") + 1
    col = len(body) - (body.rfind("\n") + 1) + 1
    if body.endswith("="):
        return line, col, "unexpected end of file: the value after '=' is missing"
    return line, col, ("unexpected end of file: a value, a closing bracket, brace or quote, or the rest of a "
                       "key is missing")


def read_text(path: str | os.PathLike) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise ValidationError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise RrasctlError(f"cannot read {path}: {e.strerror}") from None


def _unwrapped(doc: Any) -> dict:
    return doc.unwrap() if hasattr(doc, "unwrap") else dict(doc)


def parse_config(path: str | os.PathLike, text: str | None) -> Config:
    """Validate TEXT (the contents of PATH; None = missing file = defaults, with this installation's own address
    pool and tunnel address where the file names none: config/installation.py)."""
    if text is None:
        return validate(installation.fill_raw({}, path))
    doc = _parse(Path(path), text)
    raw = _unwrapped(doc)
    _migrate.migrate(raw)
    return validate(installation.fill_raw(raw, path))


def load(path: str | os.PathLike) -> Config:
    """The configuration at PATH (defaults if the file does not exist)."""
    return parse_config(path, read_text(path))


class Edit:
    """One locked read-modify-write. ``config`` is what was read; change the document with set()/delete()."""

    def __init__(self, path: Path, doc: Any, config: Config, existed: bool) -> None:
        self.path = path
        self.doc = doc
        self.config = config
        self.existed = existed
        self.changed = False

    @staticmethod
    def _parts(key: str | Sequence[str]) -> list[str]:
        return key.split(".") if isinstance(key, str) else list(key)

    def get(self, key: str | Sequence[str], default: Any = None) -> Any:
        node: Any = self.doc
        for part in self._parts(key):
            if not hasattr(node, "get") or part not in node:
                return default
            node = node[part]
        return node.unwrap() if hasattr(node, "unwrap") else node

    def set(self, key: str | Sequence[str], value: Any) -> None:
        """Set a value at an exact key path, creating tables on the way; None deletes the key."""
        if value is None:
            self.delete(key)
            return
        import tomlkit

        parts = self._parts(key)
        node = self.doc
        for i, part in enumerate(parts[:-1]):
            if part not in node:
                # a table whose only content is sub-tables renders as a super table (no bare [ports] header)
                node[part] = tomlkit.table(is_super_table=i + 1 < len(parts) - 1 or None)
            node = node[part]
        node[parts[-1]] = to_item(value)
        self.changed = True

    def set_table(self, key: str | Sequence[str], values: dict[str, Any]) -> None:
        """Set several keys of one table (creating it); keys whose value is None are removed."""
        parts = self._parts(key)
        for k, v in values.items():
            self.set([*parts, k], v)
        if not values:
            import tomlkit

            node = self.doc
            for part in parts[:-1]:
                if part not in node:
                    node[part] = tomlkit.table(is_super_table=True)
                node = node[part]
            if parts[-1] not in node:
                node[parts[-1]] = tomlkit.table()
                self.changed = True

    def delete(self, key: str | Sequence[str]) -> bool:
        parts = self._parts(key)
        node = self.doc
        for part in parts[:-1]:
            if part not in node:
                return False
            node = node[part]
        if parts[-1] in node:
            del node[parts[-1]]
            self.changed = True
            return True
        return False

    def replace(self, doc: Any) -> None:
        """Replace the whole document (config import)."""
        self.doc = doc
        self.changed = True

    def preview(self) -> Config:
        """Validate the document as it stands now."""
        raw = _unwrapped(self.doc)
        _migrate.migrate(raw)
        return validate(installation.fill_raw(raw, self.path))

    def materialise(self) -> None:
        """Write this installation's address pool and tunnel address into a document that names neither, so the
        choice never moves again (decision 0120)."""
        raw = _unwrapped(self.doc)
        server = raw.get("server") if isinstance(raw.get("server"), dict) else None
        if server is None and "server" in raw:
            return                            # not a table: validation names it
        filled = installation.fill_raw(raw, self.path)["server"]
        for key in ("address_pool", "tunnel_address"):
            if key not in (server or {}):
                self.set(["server", key], filled[key])


def to_item(value: Any) -> Any:
    """Python values to tomlkit items: lists of dicts become arrays of inline tables."""
    import tomlkit

    if isinstance(value, (list, tuple)):
        arr = tomlkit.array()
        for v in value:
            if isinstance(v, dict):
                t = tomlkit.inline_table()
                t.update(v)
                arr.append(t)
            else:
                arr.append(v)
        return arr
    return value


def through_links(path: Path) -> Path:
    """The file a path names once symbolic links are followed (itself when it is not a link; the would-be target
    of a dangling link). A loop is an error naming the path."""
    if not path.is_symlink():
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))
    except OSError as e:
        raise RrasctlError(f"{path} is a symbolic link that cannot be followed: {e.strerror or e}",
                           hint="point it at a file, or replace it by one") from None


def _lock(path: Path) -> int:
    import fcntl

    path = through_links(Path(path))
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise RrasctlError(f"cannot open the lock file {lock_path}: {e.strerror}") from None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _clean_stale_temps(path: Path) -> None:
    """Temp files left by a writer killed mid-write (only lock holders create them, and we hold the lock)."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for n in names:
        if n.startswith(prefix) and n.endswith(_TMP_SUFFIX):
            try:
                os.unlink(path.parent / n)
            except OSError:
                pass


def atomic_write(path: Path, text: str) -> None:
    """temp file in the same dir → fsync → os.replace → fsync the dir. A symbolic link is written through: the
    temp file goes beside its target, which is replaced; the link stays."""
    path = through_links(Path(path))
    data = text.encode("utf-8")
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextmanager
def edit(path: str | os.PathLike) -> Iterator[Edit]:
    """Locked read-modify-write of the config at PATH (see the module docstring)."""
    import tomlkit

    shown = Path(path)
    path = through_links(shown)      # a symlinked config is written through the link (its target's dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise RrasctlError(f"cannot create {path.parent}: {e.strerror}") from None
    fd = _lock(path)
    try:
        _clean_stale_temps(path)
        text = read_text(path)
        existed = text is not None
        if text is None:
            doc = tomlkit.document()
            doc.add(tomlkit.comment(HEADER.strip()[2:]))
            doc.add("schema_version", _migrate.CURRENT)
            doc.add(tomlkit.nl())
            before = parse_config(path, None)
        else:
            doc = _parse(path, text)
            raw = _unwrapped(doc)
            _migrate.migrate(copy.deepcopy(raw))
            before = parse_config(path, text)
            _migrate.migrate(doc)  # older files are migrated on write
        e = Edit(path, doc, before, existed)
        yield e
        if e.changed or not existed or doc is not e.doc:
            if not existed:
                e.materialise()  # the first write of a fresh installation pins its address pool (decision 0120)
            e.preview()  # raises ValidationError naming the key; nothing written
            try:
                atomic_write(path, e.doc.as_string())
            except OSError as exc:
                where = f"{shown} (a link to {path})" if shown != path else str(path)
                raise RrasctlError(f"cannot write {where}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
