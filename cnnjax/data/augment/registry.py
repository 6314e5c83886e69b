"""Augmentation ops looked up by name, and the parser of spec strings like `pad_crop(4)|flip_lr`.

An op is registered with a factory: `factory(*args, **kwargs)` validates its arguments and returns
either a per-example function `fn(key, image (H, W, C)) -> image` or, for ops that mix examples
(mixup, cutmix), a batch function `fn(key, images (B, H, W, C), labels (B, K)) -> (images,
labels)`. Spec arguments are Python literals, parsed with `ast` (nothing is evaluated).
"""

import ast
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

EXAMPLE, BATCH = "example", "batch"


@dataclasses.dataclass(frozen=True)
class Op:
    """A registered op: its name, its factory and whether it acts per example or on the batch."""

    name: str
    factory: Callable[..., Callable]
    kind: str

    @property
    def signature(self) -> str:
        return f"{self.name}{inspect.signature(self.factory)}"


_OPS: dict[str, Op] = {}


def check(condition: bool, message: str) -> None:
    """Raises `ValueError(message)` unless `condition` (factories validate their arguments)."""
    if not condition:
        raise ValueError(message)


def register_op(name: str, *, kind: str = EXAMPLE):
    """Decorator registering `factory` as op `name` (`kind` is `"example"` or `"batch"`)."""
    if kind not in (EXAMPLE, BATCH):
        raise ValueError(f"op kind must be {EXAMPLE!r} or {BATCH!r}, got {kind!r}")

    def decorator(factory):
        if name in _OPS:
            raise ValueError(f"augmentation op {name!r} is registered twice")
        _OPS[name] = Op(name, factory, kind)
        return factory

    return decorator


def list_ops() -> list[str]:
    """Signatures of every registered op, e.g. `rotate(degrees: float)`, sorted by name."""
    return [_OPS[name].signature for name in sorted(_OPS)]


def _accepted() -> str:
    return "accepted ops: " + ", ".join(list_ops())


def _literal(node: ast.AST, token: str, op: Op) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError as e:
        got = ast.unparse(node)
        quote = (
            f"; a bare name is not a string: write '{got}' in quotes if a string is meant"
            if isinstance(node, ast.Name)
            else ""
        )
        raise ValueError(
            f"augmentation {token!r}: arguments must be numbers, quoted strings or tuples, got "
            f"{got}{quote}; expected {op.signature}"
        ) from e


def parse_op(token: str) -> tuple[Op, tuple, dict]:
    """`"rotate(10)"` → (the `rotate` op, (10,), {}); raises ValueError naming a bad token."""
    try:
        tree = ast.parse(token, mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse augmentation {token!r}; {_accepted()}") from e
    if isinstance(tree, ast.Name):
        name, args, kwargs = tree.id, (), {}
    elif isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
        name = tree.func.id
    else:
        raise ValueError(f"cannot parse augmentation {token!r}; {_accepted()}")
    if name not in _OPS:
        raise ValueError(f"unknown augmentation op {name!r}; {_accepted()}")
    op = _OPS[name]
    if isinstance(tree, ast.Call):
        args = tuple(_literal(a, token, op) for a in tree.args)
        kwargs = {k.arg: _literal(k.value, token, op) for k in tree.keywords}
    return op, args, kwargs


def instantiate(token: str) -> tuple[Op, Callable]:
    """Parses one `name(args)` token and calls its factory; bad arguments raise ValueError."""
    op, args, kwargs = parse_op(token)
    try:
        inspect.signature(op.factory).bind(*args, **kwargs)
    except TypeError as e:
        raise ValueError(f"augmentation {token!r}: {e}; expected {op.signature}") from e
    try:
        return op, op.factory(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"augmentation {token!r}: {e}; expected {op.signature}") from e


def parse_spec(spec: str) -> list[tuple[Op, Callable]]:
    """`"pad_crop(4)|flip_lr"` → [(op, fn), ...]; the empty spec is the empty list."""
    tokens = [t.strip() for t in spec.split("|")] if spec.strip() else []
    if any(not t for t in tokens):
        raise ValueError(f"augmentation spec {spec!r} has an empty op between '|'; {_accepted()}")
    return [instantiate(t) for t in tokens]
