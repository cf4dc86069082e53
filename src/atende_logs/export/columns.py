"""The flat columns of each kind, for CSV and Parquet: the spec's example document, flattened.

Nested objects become dotted column names (``attendant.email``,
``complements.busy.direction``); arrays (``redirects``, ``interactions``,
``attendants_groups``) stay whole, as JSON text in one cell. The order is the order of the
fields in the spec's example of the kind, fixed here so that a file's columns never depend
on its data (a test checks them against the examples). Nothing is lost: a field the example
does not have goes, with its dotted name, into the last column, ``extra``, as a JSON object;
a column whose value is an object or an array holds it as JSON text.
"""

from __future__ import annotations

from typing import Any

import orjson

from atende_logs.export.formulas import FORMULA_FIRST, inert

EXTRA = "extra"
"""The last column: the fields no other column holds, as a JSON object (empty when none)."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "attendant-logs": (
        "configuration.wrap_up_time_outbound_active",
        "configuration.hold_active",
        "configuration.dialer_queue_active",
        "configuration.transfer_active",
        "configuration.post_attendance_active",
        "configuration.beep_termited_call_active",
        "configuration.dtmf_active",
        "configuration.wrap_up_time_inbound_active",
        "configuration.calling_timer_active",
        "configuration.pause_button_active",
        "configuration.dump_call_active",
        "configuration.send_logs_active",
        "description",
        "screen",
        "source",
        "attendants_groups",
        "duration",
        "attendant.sip_number",
        "attendant.extension_number",
        "attendant.name",
        "attendant.email",
        "ani_number",
        "last_machine_attributes.isWebSocketsSupported",
        "last_machine_attributes.publicAddress",
        "last_machine_attributes.sessionID",
        "last_machine_attributes.hasMicrophone",
        "last_machine_attributes.hasWebcam",
        "last_machine_attributes.osName",
        "last_machine_attributes.isWebRTCSupported",
        "last_machine_attributes.voipNumberVersion",
        "last_machine_attributes.isWebSocketsBlocked",
        "last_machine_attributes.osVersion",
        "last_machine_attributes.localAddress",
        "last_machine_attributes.hasSpeakers",
        "last_machine_attributes.browserVersion",
        "last_machine_attributes.browserName",
        "last_machine_attributes.loggedInAt",
        "last_machine_attributes.localNetworkType",
        "last_machine_attributes.voipVersion",
        "last_machine_attributes.isMobileDevice",
        "screen_name",
        "complements.offline",
        "complements.wrapup.source",
        "complements.wrapup.direction",
        "complements.ringing.duration",
        "complements.ringing.from",
        "complements.ringing.source",
        "complements.ringing.direction",
        "complements.ringing.has_error",
        "complements.inactive",
        "complements.waiting",
        "complements.busy.transfer",
        "complements.busy.dtmf",
        "complements.busy.from",
        "complements.busy.source",
        "complements.busy.direction",
        "complements.pause.scheduled",
        "complements.pause.type",
        "description_name",
        "dnis",
        "id",
        "email",
        "timestamp",
        "machine_attributes.isWebSocketsSupported",
        "machine_attributes.publicAddress",
        "machine_attributes.sessionID",
        "machine_attributes.hasMicrophone",
        "machine_attributes.hasWebcam",
        "machine_attributes.osName",
        "machine_attributes.isWebRTCSupported",
        "machine_attributes.voipNumberVersion",
        "machine_attributes.isWebSocketsBlocked",
        "machine_attributes.osVersion",
        "machine_attributes.localAddress",
        "machine_attributes.hasSpeakers",
        "machine_attributes.browserVersion",
        "machine_attributes.browserName",
        "machine_attributes.loggedInAt",
        "machine_attributes.localNetworkType",
        "machine_attributes.voipVersion",
        "machine_attributes.isMobileDevice",
        "status_changed_by",
        "previous",
        "kind",
        "call.x_call_id",
        "call.ani_number",
        "call.dnis",
        "call.call_id",
        "last_statuses",
        "status_complements",
        "allow_save",
        "extension_number",
        "name",
        "user",
        "send_logs_active",
    ),
    "cdrs": (
        "callid",
        "my_status_name",
        "selected_options",
        "number_info3",
        "number_info2",
        "call_status_humanized",
        "selected_call_classification_tags",
        "number_info1",
        "ani_uf",
        "call_status",
        "uraduration",
        "dnis",
        "period",
        "public_audio_url",
        "my_status_code",
        "voicemail",
        "ani_long",
        "block_reason",
        "ani_state",
        "number_host",
        "total_charge",
        "dialduration",
        "dialer_type",
        "result_leg_a_humanized",
        "block_reason_humanized",
        "number_name",
        "configuration_kind",
        "leg_a_type_humanized",
        "call_status_complement",
        "week_day",
        "period_humanized",
        "ani_city",
        "period_complement",
        "my_tags",
        "direction_humanized",
        "has_audio",
        "alt_dnis",
        "ani_provider",
        "my_status_info_2",
        "my_status_info_1",
        "my_status_info_3",
        "ani_prefix",
        "ani_kind",
        "redirects",
        "interactions",
        "leg_a_type",
        "call_terminated",
        "configuration_kind_humanized",
        "ori_end_time",
        "ori_charge",
        "ani_lat",
        "customer_info",
        "ani",
        "ring_duration_a",
        "ring_duration_b",
        "direction",
        "ring_duration_c",
        "queue_dialer_name",
        "card_info_1",
        "result_leg_a",
        "my_status_complement_2",
        "result_leg_b",
        "my_status_complement_1",
        "zendesk_ticket_id",
        "result_leg_b_humanized",
        "audio_processing_state",
        "duration_call",
        "ori_start_time",
        "ori_billing_time",
        "card_info_2",
        "card_info_3",
    ),
    "cards": (
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
}


def header(kind_name: str) -> list[str]:
    """The column names of ``kind_name``, in order, ``extra`` last."""
    return [*COLUMNS[kind_name], EXTRA]


def flatten(kind_name: str, doc: dict[str, Any]) -> list[Any]:
    """The document's values in ``header`` order: ``None`` where it lacks a field, and for
    ``extra`` a dict of what no column holds (``None`` when that is nothing)."""
    tree, width = _TREES[kind_name]
    values: list[Any] = [None] * (width + 1)
    extra: dict[str, Any] = {}
    _walk(doc, tree, "", values, extra)
    values[width] = extra or None
    return values


def cell(value: Any) -> str:
    """One value as CSV text: empty for null, ``true``/``false``, JSON for objects and arrays."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return orjson.dumps(value).decode()


def csv_cell(value: Any, escape_formulas: bool = True) -> str:
    """``cell`` in a CSV file: a text that a spreadsheet would run as a formula is made
    inert unless ``escape_formulas`` is off (``export.formulas``). Only text values are
    checked: the JSON text of the other values cannot start like a formula, except a
    negative number, which is data."""
    # cell() written out again rather than called: an export runs this for every cell.
    if value is None:
        return ""
    if type(value) is str:
        if escape_formulas and value[:1] in FORMULA_FIRST:
            return inert(value)
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return orjson.dumps(value).decode()


# A kind's columns as a tree of their path parts; a leaf is the column's index.
_Tree = dict[str, "int | _Tree"]


def _tree(columns: tuple[str, ...]) -> _Tree:
    root: _Tree = {}
    for index, column in enumerate(columns):
        *parents, leaf = column.split(".")
        node = root
        for part in parents:
            child = node.setdefault(part, {})
            assert isinstance(child, dict), column
            node = child
        node[leaf] = index
    return root


_TREES = {kind: (_tree(columns), len(columns)) for kind, columns in COLUMNS.items()}


def _walk(
    doc: dict[str, Any], tree: _Tree, prefix: str, values: list[Any], extra: dict[str, Any]
) -> None:
    for key, value in doc.items():
        node = tree.get(key)
        if isinstance(node, int):
            values[node] = value
        elif node is not None and isinstance(value, dict) and value:
            _walk(value, node, f"{prefix}{key}.", values, extra)
        else:
            extra[prefix + key] = value
