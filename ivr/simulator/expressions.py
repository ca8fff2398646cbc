"""Dialplan variable substitution (``${...}``) and expressions (``$[...]``).

``substitute(text, resolve)`` expands variables and functions the way
pbx_substitute_variables does: innermost first, ``${VAR:offset:length}``
substrings, and ``$[...]`` evaluated by a small expression parser (the
operators of Asterisk's ast_expr2: ``| & = != < > <= >= + - * / % !`` and
parentheses). Unknown variables expand to the empty string; malformed input
never raises.
"""

from __future__ import annotations

import re
from typing import Callable

Resolver = Callable[[str], str]


def _find_close(text: str, start: int, open_c: str, close_c: str) -> int:
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def substitute(text: str, resolve: Resolver) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            j = _find_close(text, i + 1, "{", "}")
            if j < 0:
                out.append(text[i:])
                break
            inner = substitute(text[i + 2 : j], resolve)
            out.append(_lookup(inner, resolve))
            i = j + 1
        elif text.startswith("$[", i):
            j = _find_close(text, i + 1, "[", "]")
            if j < 0:
                out.append(text[i:])
                break
            inner = substitute(text[i + 2 : j], resolve)
            out.append(evaluate(inner))
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _lookup(expr: str, resolve: Resolver) -> str:
    # ${VAR:offset[:length]} (not for function calls with ':' inside parentheses)
    m = re.fullmatch(r"([^:()]+|[^:]*\([^)]*\)):(-?\d+)(?::(-?\d+))?", expr)
    if m:
        value = resolve(m.group(1))
        off = int(m.group(2))
        ln = m.group(3)
        value = value[off:] if off >= 0 else value[len(value) + off :]
        if ln is not None:
            n = int(ln)
            value = value[:n] if n >= 0 else value[:n]
        return value
    return resolve(expr)


# -- $[ ] expressions -------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<str>"[^"]*")|(?P<op><=|>=|!=|=~|[|&=<>+\-*/%!()?:])|(?P<word>[^\s|&=<>+\-*/%!()?:"]+))')


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        tok = m.group("str") or m.group("op") or m.group("word")
        if tok is not None:
            out.append(tok)
    return out


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _fmt(v: float | str) -> str:
    if isinstance(v, str):
        return v
    return str(int(v)) if v == int(v) else repr(v)


def _truth(v: str) -> bool:
    n = _num(v)
    return (n != 0) if n is not None else v not in ("",)


class _Parser:
    def __init__(self, toks: list[str]):
        self.toks = toks
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self) -> str:
        if not self.toks:
            return ""
        v = self.ternary()
        return v

    def ternary(self) -> str:
        cond = self.or_()
        if self.peek() == "?":
            self.take()
            a = self.or_()
            b = ""
            if self.peek() == ":":
                self.take()
                b = self.or_()
            return a if _truth(cond) else b
        return cond

    def or_(self) -> str:
        v = self.and_()
        while self.peek() == "|":
            self.take()
            r = self.and_()
            v = v if _truth(v) else (r if _truth(r) else "0")
        return v

    def and_(self) -> str:
        v = self.cmp()
        while self.peek() == "&":
            self.take()
            r = self.cmp()
            v = v if (_truth(v) and _truth(r)) else "0"
        return v

    def cmp(self) -> str:
        v = self.add()
        while self.peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = self.take()
            r = self.add()
            a, b = _num(v), _num(r)
            if a is None or b is None:
                a, b = v, r  # type: ignore[assignment]
            res = {
                "=": a == b,
                "!=": a != b,
                "<": a < b,  # type: ignore[operator]
                ">": a > b,  # type: ignore[operator]
                "<=": a <= b,  # type: ignore[operator]
                ">=": a >= b,  # type: ignore[operator]
            }[op]
            v = "1" if res else "0"
        return v

    def add(self) -> str:
        v = self.mul()
        while self.peek() in ("+", "-"):
            op = self.take()
            r = self.mul()
            a, b = _num(v) or 0.0, _num(r) or 0.0
            v = _fmt(a + b if op == "+" else a - b)
        return v

    def mul(self) -> str:
        v = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            r = self.unary()
            a, b = _num(v) or 0.0, _num(r) or 0.0
            if op == "*":
                v = _fmt(a * b)
            elif b == 0:
                v = "0"
            elif op == "/":
                v = _fmt(float(int(a / b)))
            else:
                v = _fmt(float(int(a) % int(b)))
        return v

    def unary(self) -> str:
        t = self.peek()
        if t == "!":
            self.take()
            return "0" if _truth(self.unary()) else "1"
        if t == "-":
            self.take()
            n = _num(self.unary()) or 0.0
            return _fmt(-n)
        return self.primary()

    def primary(self) -> str:
        t = self.peek()
        if t is None:
            return ""
        if t == "(":
            self.take()
            v = self.ternary()
            if self.peek() == ")":
                self.take()
            return v
        self.take()
        if t.startswith('"') and t.endswith('"'):
            return t[1:-1]
        return t


def evaluate(text: str) -> str:
    """Evaluate an ``$[...]`` body; returns ``""`` for an empty or broken expression."""
    try:
        return _Parser(_tokens(text)).parse()
    except Exception:  # noqa: BLE001 - bad dialplan input must not crash the simulator
        return ""


def split_args(text: str, sep: str = ",") -> list[str]:
    """Split application arguments on ``sep`` outside parentheses, brackets and quotes."""
    out, cur, depth, quote = [], [], 0, False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            quote = not quote
        elif not quote and c in "([{":
            depth += 1
        elif not quote and c in ")]}":
            depth -= 1
        if c == sep and depth <= 0 and not quote:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out
