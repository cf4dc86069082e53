"""Which customer, kind and dialer a message is for, read from its subject or routing key.

``<prefix>.logs.<customer_id>.<kind>`` for a kind kept per customer, and
``<prefix>.logs.<customer_id>.cards.<dialer_id>`` for cards, which belong to a dialer.
"""

from __future__ import annotations

from dataclasses import dataclass

from atende_logs.kinds import KINDS, Kind


class BadRoute(ValueError):
    """A subject that names no kind, customer or dialer we can read: a dead letter."""


@dataclass(frozen=True)
class Route:
    customer_id: int
    kind: Kind
    dialer_id: int | None = None


def subject(prefix: str, customer_id: int, kind: Kind, dialer_id: int | None = None) -> str:
    """The subject a producer publishes ``kind`` records of a customer (and dialer) to."""
    tail = "" if dialer_id is None else f".{dialer_id}"
    return f"{prefix}.logs.{customer_id}.{kind.name}{tail}"


def route(prefix: str, name: str) -> Route:
    """The route of a message published to ``name``; ``BadRoute`` says why there is none."""
    head = f"{prefix}.logs."
    if not name.startswith(head):
        raise BadRoute(f"assunto fora de {head}*: {name}")
    parts = name[len(head) :].split(".")
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        raise BadRoute(f"assunto não é {head}<cliente>.<tipo>[.<discador>]: {name}")
    kind = KINDS.get(parts[1])
    if kind is None:
        raise BadRoute(f"tipo desconhecido: {parts[1]}")
    if kind.scope.by_dialer != (len(parts) == 3):
        wanted = "o discador no fim" if kind.scope.by_dialer else "nada depois do tipo"
        raise BadRoute(f"{kind.name} pede {wanted}: {name}")
    if len(parts) == 3 and not parts[2].isdigit():
        raise BadRoute(f"discador não é um número: {parts[2]}")
    dialer = int(parts[2]) if len(parts) == 3 else None
    return Route(int(parts[0]), kind, dialer)


def dead_subject(prefix: str, name: str) -> str:
    """Where a copy of a bad message goes: its subject with ``logs`` turned to ``dead``,
    outside what the consumer reads."""
    head = f"{prefix}.logs."
    tail = name[len(head) :] if name.startswith(head) else "unrouted"
    return f"{prefix}.dead.{tail or 'unrouted'}"
