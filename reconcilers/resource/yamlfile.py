"""Reading the YAML files a user hands the command (tenant and secrets files) safely.

A file is read only when it is a regular file, and at most `MAX_FILE_BYTES` of it: a device
(`/dev/zero`), a FIFO nobody writes to or a huge file cannot hang the command or fill its
memory. The YAML is parsed with bounds too: at most `MAX_DEPTH` levels of nesting and at
most `MAX_NODES` values per document, counting every value an alias (`*name`) repeats, so a
"billion laughs" document of a few lines is refused instead of expanded.

Every problem is a `YamlFileError` whose message is one line without the file's contents
(a secrets file must never be quoted back).
"""

from __future__ import annotations

import os
import stat
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "YamlFileError", "load_documents",
           "read_text_file"]

MAX_FILE_BYTES = 1024 * 1024
"""The largest tenant or secrets file read (1 MiB; a real one is a few KiB)."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and lists accepted."""

MAX_NODES = 100_000
"""The most values one document may hold, aliases expanded."""


class YamlFileError(ValueError):
    """A file that cannot be read or parsed within the bounds; `str()` is one line that
    says what is wrong with it ("not a UTF-8 text file", "not valid YAML").

    `position` is "line L, column C" when the problem has a place in the file; `problem` is
    PyYAML's description of a syntax error (it may quote the file: keep it out of messages
    about secrets).
    """

    def __init__(self, message: str, *, position: str | None = None,
                 problem: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.problem = problem


def read_text_file(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes.

    Opening does not block (a FIFO without a writer is refused at once, not waited for).
    Raises OSError for a file that cannot be opened (a folder among them) and YamlFileError
    for one that is not a regular file, too large or not UTF-8 text.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise YamlFileError("not a regular file (a device, FIFO or socket)")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise YamlFileError(f"larger than {_size(limit)}; is it the right file?")
    if b"\x00" in data:
        raise YamlFileError("a binary file, not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlFileError("not a UTF-8 text file") from None


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, as plain Python values (YAML's safe subset).

    Raises YamlFileError for text that is not YAML, nested deeper than MAX_DEPTH, or a
    document holding more than MAX_NODES values once its aliases are expanded.
    """
    loader = _BoundedLoader(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    except _LimitError as exc:
        raise YamlFileError(str(exc.problem), position=_position(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlFileError("not valid YAML", position=_position(exc),
                            problem=getattr(exc, "problem", None)) from None
    finally:
        loader.dispose()


class _LimitError(yaml.YAMLError):
    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting while composing and alias blow-up before
    constructing (composition keeps an alias as a reference to one node, so it is cheap;
    construction and everything after it would expand it)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(f"nested more than {MAX_DEPTH} levels deep",
                                  self.peek_event().start_mark)
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def construct_document(self, node: Node) -> Any:
        _check_expanded_size(node)
        return super().construct_document(node)


def _check_expanded_size(root: Node) -> None:
    """Walk the document as its values would be expanded; stop at MAX_NODES."""
    pending: list[Node] = [root]
    seen = 0
    while pending:
        node = pending.pop()
        seen += 1
        if seen > MAX_NODES:
            raise _LimitError(
                f"holds more than {MAX_NODES} values once its aliases (*name) are expanded",
                node.start_mark)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                pending += (key, value)
        elif isinstance(node, SequenceNode):
            pending += node.value


def _position(exc: yaml.YAMLError) -> str | None:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
