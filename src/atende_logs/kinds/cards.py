"""Dialer-queue cards: the numbers an outbound dialer must call."""

from __future__ import annotations

from atende_logs.kinds._kind import Flat, Kind, Scope, exact_filter, phone_filter

CARDS = Kind(
    name="cards",
    table="cards",
    path="/customers/dialer-queue/cards",
    time_field="timestamp",
    id_field="id",
    label="card",
    summary="Logs de fichas",
    description="API de consulta de logs das fichas",
    example_file="example-dialer-queue-cards.json",
    flat=Flat(
        columns=(
            "card_info_1",
            "number",
            "schedule",
            "source",
            "is_scheduled",
            "card_info_2",
            "token",
            "card_info_3",
            "status",
            "timestamp",
        ),
        booleans=("is_scheduled",),
        times=("schedule", "timestamp"),
    ),
    # A card belongs to the dialer that must call its number.
    scope=Scope.DIALER,
    # The dialer's token travels in every card: a credential.
    masked_fields=("token",),
    # A producer may send a card without an id: its number and time identify it.
    derived_id_from="number",
    # Cards are flat: dialers' lists come as spreadsheets.
    accepts_csv=True,
    # A card exists to dial the number: without it nothing is left to do.
    erasure="delete",
    splits=("status",),
    filters=(
        phone_filter("number", (("number",),), "`number`", "Numero de discagem"),
        exact_filter("status", "status", description="Status da ficha", example="to_call"),
        exact_filter("card_info_1", "card_info_1", description="Info discador 1", example="Truck"),
        exact_filter(
            "card_info_2", "card_info_2", description="Info discador 2", example="Grade Baixa"
        ),
        exact_filter("card_info_3", "card_info_3", description="Info discador 3", example="NÃO"),
    ),
)
