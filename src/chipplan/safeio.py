"""Input and output that bad files cannot break: bounded YAML, capped values in messages, atomic writes.

Vocabulary layer: imports only the standard library, PyYAML and ``chipplan.errors``, so every layer may use it.

* :func:`load_yaml` / :func:`load_yaml_doc` read YAML from users (catalog files, scenarios, model files) with a
  size cap (:data:`MAX_YAML_BYTES`), a nesting cap (:data:`MAX_YAML_DEPTH`), a cap on alias references
  (:data:`MAX_YAML_ALIASES`) and on the nodes they expand to (:data:`MAX_YAML_ALIAS_NODES`, so a one-kilobyte
  "billion laughs" file fails in milliseconds), and duplicate keys rejected. Booleans stay booleans: a
  ``n_layers: true`` reaches the validators as ``True`` and :func:`whole_number`/:func:`number` refuse it.
  :class:`YamlDoc` keeps the line of every key so messages read ``file:line key.path: rule``.
* :func:`shown` formats any value for a one-line message with :mod:`reprlib` caps (strings, lists, dicts and
  nesting are cut), so a message never grows with the input.
* :func:`atomic_write_text`, :func:`atomic_write_bytes` and :func:`atomic_path` write to a temporary file in
  the target's directory and ``os.replace`` it over the target only on success; on any failure (a full disk,
  a directory as the target, an exception in the writer) the temporary file is removed and the target is left
  as it was. Failures are :class:`~chipplan.errors.OutputFileError` naming the path.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from chipplan.errors import MAX_MESSAGE_VALUE, ChipplanError, FieldError, InputFileError, OutputFileError, shown

# Bounds on YAML from users. The shipped catalog's largest file is ~42 kB with 38 scalar aliases; scenario
# and model files are a few kB. The caps are two orders of magnitude above that and far below what hurts.
MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_DEPTH = 50
MAX_YAML_ALIASES = 1_000
MAX_YAML_ALIAS_NODES = 100_000  # nodes added by expanding aliases (an alias of a list of n counts n + 1)

# ---------------------------------------------------------------------------------------------------------------
# Values in messages: ``shown`` (defined beside the error types, which use it) caps any value.

def one_line(message: str, limit: int = 500) -> str:
    """``message`` with line breaks folded and its length capped: the last guard before a user sees it."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------------
# Numbers and counts from users (flags, CSV cells, YAML values)


def whole_number(name: str, value: Any, *, lo: int = 1, hi: int | None = None, what: str = "") -> int:
    """``value`` as an ``int`` when it is a whole number in ``[lo, hi]``, else a FieldError naming ``name``.

    Booleans are refused (YAML's ``true`` is not 1 layer); ``24.0`` is accepted as 24, ``24.5`` is not.

    >>> whole_number("num_layers", 24.0)
    24
    >>> whole_number("num_layers", 24.5)
    Traceback (most recent call last):
    ...
    chipplan.errors.FieldError: num_layers: must be a whole number >= 1, got 24.5
    """
    rule = _count_rule(lo, hi, what)
    if isinstance(value, bool) or value is None:
        raise FieldError(name, rule, value)
    if isinstance(value, int):
        v = value
    else:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise FieldError(name, rule, value) from None
        if not math.isfinite(f) or f != math.floor(f):
            raise FieldError(name, rule, value)
        v = int(f)
    if v < lo or (hi is not None and v > hi):
        raise FieldError(name, rule, value)
    return v


def _count_rule(lo: int, hi: int | None, what: str) -> str:
    unit = f" ({what})" if what else ""
    if hi is None:
        return f"must be a whole number >= {lo:,}{unit}"
    return f"must be a whole number in [{lo:,}, {hi:,}]{unit}"


def number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           what: str = "") -> float:
    """``value`` as a finite ``float`` in the range, else a FieldError naming ``name`` and the range.

    ``lo_open`` makes the lower bound exclusive (``> 0``). Booleans and non-finite values are refused.

    >>> number("--price", 2.5, lo=0, hi=1e4, what="USD per accelerator-hour")
    2.5
    >>> number("--price", 1e308, lo=0, hi=1e4, what="USD per accelerator-hour")
    Traceback (most recent call last):
    ...
    chipplan.errors.FieldError: --price: must be a number in [0, 10000] (USD per accelerator-hour), got 1e+308
    """
    rule = range_rule(lo, hi, lo_open=lo_open, what=what)
    if isinstance(value, bool) or value is None:
        raise FieldError(name, rule, value)
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise FieldError(name, rule, value) from None
    if not math.isfinite(f) or (lo is not None and (f <= lo if lo_open else f < lo)) or (hi is not None and f > hi):
        raise FieldError(name, rule, value)
    return f


def range_rule(lo: float | None, hi: float | None, *, lo_open: bool = False, what: str = "") -> str:
    """The rule text for a numeric range: ``must be a number in (0, 1e+04] (USD)``."""
    unit = f" ({what})" if what else ""
    if lo is None and hi is None:
        return f"must be a finite number{unit}"
    if hi is None:
        return f"must be a number {'>' if lo_open else '>='} {lo:g}{unit}"
    if lo is None:
        return f"must be a number <= {hi:g}{unit}"
    return f"must be a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]{unit}"


# ---------------------------------------------------------------------------------------------------------------
# YAML


class _Limit(yaml.YAMLError):
    """A cap was exceeded while composing; carries the line for the message."""

    def __init__(self, message: str, mark: Any):
        super().__init__(message)
        self.message = message
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts depth, alias references and the nodes they expand to, and refuses duplicate keys."""

    def __init__(self, stream: str, *, max_depth: int, max_aliases: int, max_alias_nodes: int):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._alias_nodes = 0
        self._max_depth = max_depth
        self._max_aliases = max_aliases
        self._max_alias_nodes = max_alias_nodes

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = getattr(target, "_chipplan_size", None)
                if size is None:  # the anchor is still open: the alias refers to its own ancestor
                    raise _Limit(f"recursive alias *{event.anchor}", event.start_mark)
                self._aliases += 1
                self._alias_nodes += size
                if self._aliases > self._max_aliases:
                    raise _Limit(f"more than {self._max_aliases:,} aliases", event.start_mark)
                if self._alias_nodes > self._max_alias_nodes:
                    raise _Limit(f"aliases expand to more than {self._max_alias_nodes:,} nodes "
                                 "(nested anchors, a 'billion laughs' file?)", event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self._max_depth:
            raise _Limit(f"nested deeper than {self._max_depth} levels", self.peek_event().start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(_size(k) + _size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(_size(v) for v in node.value)
        else:
            size = 1
        node._chipplan_size = size  # type: ignore[attr-defined]
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue
                if first is not key_node:
                    raise _Limit(f"duplicate key {shown(key)} (first on line {first.start_mark.line + 1})",
                                 key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _size(node: Any) -> int:
    return getattr(node, "_chipplan_size", 1)


@dataclass(frozen=True)
class YamlDoc:
    """A YAML document as plain Python data plus the line of each key, for messages.

    ``lines`` maps a key path (a tuple of strings: mapping keys, and sequence indices as digits) to the
    1-based line where it starts.
    """

    data: Any
    source: str
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    def line(self, *path: Any) -> int | None:
        """Line of the deepest known prefix of ``path`` (None when the document has none of it)."""
        keys = tuple(str(p) for p in path)
        while keys:
            if keys in self.lines:
                return self.lines[keys]
            keys = keys[:-1]
        return None

    def where(self, *path: Any) -> str:
        """``file:line`` for ``path`` (``file`` alone when the line is unknown)."""
        ln = self.line(*path)
        return f"{self.source}:{ln}" if ln is not None else self.source

    def error(self, path: tuple[Any, ...] | list[Any], rule: str) -> InputFileError:
        """An InputFileError reading ``file:line key.path: rule``."""
        dotted = ".".join(str(p) for p in path)
        return InputFileError(f"{self.where(*path)} {dotted}: {rule}" if dotted else f"{self.where()}: {rule}")


def _lines(node: Any, limit: int) -> dict[tuple[str, ...], int]:
    """Key path → line, walking the composed tree once (aliases are not re-entered)."""
    out: dict[tuple[str, ...], int] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str, ...]]] = [(node, ())]
    while stack and len(out) < limit:
        n, path = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = (*path, str(k.value) if isinstance(k, yaml.ScalarNode) else "?")
                out.setdefault(p, k.start_mark.line + 1)
                stack.append((v, p))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                p = (*path, str(i))
                out.setdefault(p, v.start_mark.line + 1)
                stack.append((v, p))
    return out


def _char(c: Any) -> str:
    """A character as a message shows it: ``U+0001``."""
    return f"U+{c:04X}" if isinstance(c, int) else f"U+{ord(c):04X}" if isinstance(c, str) and len(c) == 1 else "?"


def parse_yaml(text: str, source: str = "<yaml>", *, max_depth: int = MAX_YAML_DEPTH,
               max_aliases: int = MAX_YAML_ALIASES, max_alias_nodes: int = MAX_YAML_ALIAS_NODES,
               keep_lines: bool = True, error: type[ChipplanError] = InputFileError) -> YamlDoc:
    """Parse one YAML document from ``text`` within the caps; failures are one-line ``error``s naming the line.

    >>> parse_yaml("a: 1\\nb: [x, y]\\n", "f.yaml").where("b", 1)
    'f.yaml:2'
    >>> parse_yaml("a: 1\\na: 2\\n", "f.yaml")
    Traceback (most recent call last):
    ...
    chipplan.errors.InputFileError: f.yaml:2: malformed YAML (duplicate key 'a' (first on line 1))
    """
    try:  # the reader checks every character as it is built: a control character fails here
        loader = _BoundedLoader(text, max_depth=max_depth, max_aliases=max_aliases, max_alias_nodes=max_alias_nodes)
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(e.position, 0)) + 1
        raise error(f"{source}:{line}: malformed YAML (character {_char(e.character)} at column "
                    f"{e.position - (text.rfind(chr(10), 0, e.position) + 1) + 1} is not allowed in YAML)") from None
    try:
        node = loader.get_single_node()
        lines = _lines(node, 200_000) if (keep_lines and node is not None) else {}
        data = loader.construct_document(node) if node is not None else None
    except _Limit as e:
        raise error(f"{source}:{e.mark.line + 1}: malformed YAML ({e.message})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise error(f"{source}{where}: malformed YAML ({one_line(problem, 200)})") from None
    except (ValueError, TypeError, OverflowError) as e:  # a scalar the constructor cannot build (a 5,000-digit int)
        raise error(f"{source}: malformed YAML ({one_line(str(e), 200)})") from None
    except RecursionError:  # belt and braces: the depth cap should stop it first
        raise error(f"{source}: malformed YAML (nested too deeply)") from None
    finally:
        loader.dispose()
    return YamlDoc(data=data, source=source, lines=lines)


class _LazyLinesDoc(YamlDoc):
    """A YamlDoc whose key lines are found only when a message asks for one (``line``), by parsing the text again
    with the bounded loader; the data came from the C parser."""

    def __init__(self, data: Any, source: str, text: str, error: type[ChipplanError]):
        super().__init__(data=data, source=source)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_error", error)

    def line(self, *path: Any) -> int | None:
        if not self.lines:
            self.lines.update(parse_yaml(self._text, self.source, error=self._error).lines)
        return super().line(*path)


def parse_trusted_yaml(text: str, source: str = "<yaml>", *, error: type[ChipplanError] = InputFileError) -> YamlDoc:
    """Parse YAML the project ships (never a user's file) with libyaml's C parser when PyYAML has it (several times
    faster than :func:`parse_yaml`); the key lines are found on demand. The bounded checks (depth, aliases,
    duplicate keys) hold for the shipped files because a test parses each of them with :func:`parse_yaml` and
    compares (``tests/catalog/test_catalog_files.py``). Any failure falls back to :func:`parse_yaml`, whose message
    names the line."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return parse_yaml(text, source, error=error)
    try:
        data = yaml.load(text, Loader=loader)  # CSafeLoader: the safe loader, in C
    except yaml.YAMLError:
        return parse_yaml(text, source, error=error)
    return _LazyLinesDoc(data, source, text, error)


def read_text_capped(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, what: str = "YAML",
                     error: type[ChipplanError] = InputFileError) -> str:
    """The UTF-8 text of ``path`` if it is at most ``max_bytes``; an ``error`` naming the file otherwise."""
    p = Path(path)
    try:
        if p.is_dir():
            raise error(f"{p}: is a directory, expected a {what} file")
        with p.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{p}: file not found") from None
    except OSError as e:
        raise error(f"{p}: cannot read ({e.strerror or e})") from None
    if len(raw) > max_bytes:
        raise error(f"{p}: larger than {max_bytes / 2**20:g} MiB; a {what} file this large is not an input "
                    "chipplan expects")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{p}: not a UTF-8 text file (byte {e.start}); expected {what}") from None


def load_yaml_doc(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, error: type[ChipplanError] = InputFileError,
                  **caps: Any) -> YamlDoc:
    """Read and parse a YAML file within the caps (see :func:`parse_yaml`), keeping key lines."""
    return parse_yaml(read_text_capped(path, max_bytes=max_bytes, error=error), str(path), error=error, **caps)


def load_yaml(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, error: type[ChipplanError] = InputFileError,
              **caps: Any) -> Any:
    """The data of a YAML file read within the caps (see :func:`parse_yaml`)."""
    return load_yaml_doc(path, max_bytes=max_bytes, error=error, keep_lines=False, **caps).data


# ---------------------------------------------------------------------------------------------------------------
# Atomic writes


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise OutputFileError(f"{path}: is a directory; give a file name to write")
    parent = path.parent
    if not parent.exists():
        raise OutputFileError(f"{path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputFileError(f"{path}: {parent} is not a directory")


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777  # keep an existing file's permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _os_message(path: Path, e: OSError) -> str:
    return f"{path}: cannot write ({e.strerror or type(e).__name__})"


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name (pandas, plotly, pyarrow).

    The temporary name keeps the target's suffix (writers that infer the format from it still work). When the
    block ends normally the file is moved over ``path`` in one ``os.replace``; if the block raises, or the
    move fails, the temporary file is removed and ``path`` is untouched. OSErrors become OutputFileError.
    """
    target = Path(path)
    _check_target(target)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    except OSError as e:
        raise OutputFileError(_os_message(target, e)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputFileError(f"{target}: the writer produced no file")
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except OSError as e:
        _remove(tmp)
        raise OutputFileError(_os_message(target, e)) from None
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", fsync: bool = True
                ) -> Iterator[IO[Any]]:
    """An open file (``"w"`` or ``"wb"``) whose contents replace ``path`` only when the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes whole files: mode must be 'w' or 'wb'")
    with atomic_path(path, fsync=False) as tmp:
        try:
            f = open(tmp, mode, encoding=None if "b" in mode else encoding)  # noqa: SIM115 (closed below)
        except OSError as e:
            raise OutputFileError(_os_message(Path(path), e)) from None
        try:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        finally:
            f.close()


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8", fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def _remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


__all__ = ["MAX_MESSAGE_VALUE", "MAX_YAML_ALIASES", "MAX_YAML_ALIAS_NODES", "MAX_YAML_BYTES", "MAX_YAML_DEPTH",
           "YamlDoc",
           "atomic_open", "atomic_path", "atomic_write_bytes", "atomic_write_text", "load_yaml", "load_yaml_doc",
           "number", "one_line", "parse_yaml", "range_rule", "read_text_capped", "shown", "whole_number"]
