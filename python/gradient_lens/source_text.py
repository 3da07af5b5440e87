"""A Python source file's positions and ast, and the call a frame is running: what both the
PyTorch source mapper (source_map) and the Keras exporter (keras_export) locate layers with.
No framework import here, so a Keras-only interpreter can use it.

Positions are zero-based lines and UTF-16 columns, as VS Code counts.
"""
from __future__ import annotations

import ast
import os
import re
import types
from typing import Dict, List, Optional, Tuple

from .protocol import Range, SourceSite

# (first line 1-based, first column UTF-8 bytes, last line, end column) as ast and co_positions give them.
Span = Tuple[int, int, int, int]


# ──── source text: positions and the ast ────

class SourceFile:
    """A Python file's text, its ast, and UTF-8 byte → UTF-16 column conversion."""

    _cache: Dict[str, "SourceFile"] = {}

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as handle:
            raw = handle.read()
        self.text = raw.decode("utf-8-sig", errors="replace")
        # Lines as Python (and VS Code) count them: \n, \r\n, \r only. str.splitlines() also breaks at
        # form feeds, U+2028 and other separators, which would shift every later line.
        self.lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n|$)", self.text)
        try:
            self.tree: Optional[ast.Module] = ast.parse(self.text, filename=path)
        except SyntaxError:
            self.tree = None
        self.parents: Dict[ast.AST, ast.AST] = {}
        self.calls: Dict[Span, ast.Call] = {}
        self.calls_by_line: Dict[int, List[ast.Call]] = {}
        if self.tree is not None:
            for parent in ast.walk(self.tree):
                for child in ast.iter_child_nodes(parent):
                    self.parents[child] = parent
                if isinstance(parent, ast.Call):
                    span = node_span(parent)
                    if span is not None:
                        self.calls[span] = parent
                        self.calls_by_line.setdefault(span[0], []).append(parent)

    @classmethod
    def of(cls, path: str) -> "SourceFile":
        real = os.path.realpath(path)
        if real not in cls._cache:
            cls._cache[real] = SourceFile(real)
        return cls._cache[real]

    def column(self, line: int, byte_column: int) -> int:
        """UTF-16 column of a UTF-8 byte offset on a 1-based line."""
        if line - 1 >= len(self.lines) or line < 1:
            return byte_column
        prefix = self.lines[line - 1].encode("utf-8")[:byte_column].decode("utf-8", errors="replace")
        return len(prefix.encode("utf-16-le")) // 2

    def range_of(self, span: Span) -> Range:
        line, col, end_line, end_col = span
        return {"start": {"line": line - 1, "character": self.column(line, col)},
                "end": {"line": end_line - 1, "character": self.column(end_line, end_col)}}

    def statement_of(self, node: ast.AST) -> Optional[ast.stmt]:
        current: Optional[ast.AST] = node
        while current is not None and not isinstance(current, ast.stmt):
            current = self.parents.get(current)
        return current if isinstance(current, ast.stmt) else None

    def indent_of(self, statement: ast.stmt) -> str:
        line = self.lines[statement.lineno - 1] if statement.lineno - 1 < len(self.lines) else ""
        return line[: len(line) - len(line.lstrip(" \t"))]

    def container_of(self, call: ast.Call) -> str:
        parent = self.parents.get(call)
        if isinstance(parent, (ast.Assign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self" for t in targets):
                return "attribute"
        node: ast.AST = call
        while isinstance(parent, (ast.List, ast.Tuple, ast.Starred)):
            node, parent = parent, self.parents.get(parent)
        if isinstance(parent, ast.Call) and node is not parent.func and callee_name(parent) in ("Sequential", "ModuleList"):
            return "sequential"
        return "other"

    def site(self, span: Span) -> Optional[SourceSite]:
        call = self.calls.get(span)
        site: SourceSite = {"file": self.path, "range": self.range_of(span), "container": "other"}
        if call is None:
            return site
        site["container"] = self.container_of(call)
        statement = self.statement_of(call)
        if statement is not None:
            statement_span = node_span(statement)
            if statement_span is not None:
                site["statementRange"] = self.range_of(statement_span)
            site["indent"] = self.indent_of(statement)
        return site


def node_span(node: ast.AST) -> Optional[Span]:
    end_line = getattr(node, "end_lineno", None)
    end_col = getattr(node, "end_col_offset", None)
    if end_line is None or end_col is None:
        return None
    return (node.lineno, node.col_offset, end_line, end_col)  # type: ignore[attr-defined]


def callee_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def call_span(frame: types.FrameType) -> Optional[Span]:
    """The span of the call the frame is executing, if it is a call expression in the source."""
    source = SourceFile.of(frame.f_code.co_filename)
    positions = getattr(frame.f_code, "co_positions", None)
    if positions is not None and frame.f_lasti >= 0:
        try:
            position = list(positions())[frame.f_lasti // 2]
        except IndexError:
            position = None
        if position is not None and None not in position:
            span: Span = (position[0], position[2], position[1], position[3])  # type: ignore[assignment]
            # The running instruction of a comprehension's caller is the comprehension, not a call.
            return span if span in source.calls else None
    # Python < 3.11: the line only; take the last call starting on it (the innermost constructor).
    calls = source.calls_by_line.get(frame.f_lineno, [])
    return node_span(calls[-1]) if calls else None
