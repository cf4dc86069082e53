"""A realistic, deterministic demo data set: attendant logs, CDRs and dialer-queue cards.

Pure functions, no I/O. Each document has exactly the keys, key order and JSON types of the
spec's examples. Generation is lazy and cheap (literal dicts or copies of a template, integer
time arithmetic with cached date prefixes) so benchmarks can draw millions of documents.

Ties are deliberate: agents log in in pairs at the same millisecond (and log in and become
available at that same instant), CDRs start in bursts within one second, and every card of
one import shares one timestamp.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

Doc = dict[str, Any]
_T = TypeVar("_T")
ZONE = ZoneInfo("America/Sao_Paulo")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000
_TWO = tuple(f"{i:02d}" for i in range(60))
_MILLI = tuple(f"{i:03d}" for i in range(1000))
_WORK_S = (8 * 3600, 18 * 3600)
_CALLID_BASE = 69_700_000
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# fmt: off
_FIRST = tuple("João,Ana Luíza,Maria,José,Fernanda,Luís,Mariana,Gabriel,Beatriz,Pedro,Camila,"
               "Lucas,Júlia,Rafael,Letícia,André".split(","))
_LAST = tuple("Silva,Souza,Oliveira,Santos,Conceição,Araújo,Gonçalves,Lima,Ribeiro,Simões,"
              "Magalhães,Brandão,Falcão,Pereira".split(","))
_GROUPS = (16, 17, 18)  # extension numbers of the attendant groups (Vendas, Suporte, Financeiro)
_VERSIONS = ("1.14.111.1559", "1.9.3", "1.15.2.10", "1.12.4", "1.15.0.2")
_DEVICES = (("Mac OS X", "10_14_6", "Chrome", "80.0.3987.87"),
            ("Windows", "10", "Chrome", "79.0.3945.130"), ("Windows", "10", "Firefox", "72.0"),
            ("Linux", "x86_64", "Chrome", "80.0.3987.87"))
_MACHINE: Doc = {  # per agent: the blanks are filled in by _roster and per working day
    "isWebSocketsSupported": True, "publicAddress": "", "sessionID": "", "hasMicrophone": True,
    "hasWebcam": True, "osName": "", "isWebRTCSupported": True, "voipNumberVersion": "",
    "isWebSocketsBlocked": False, "osVersion": "", "localAddress": "", "hasSpeakers": True,
    "browserVersion": "", "browserName": "", "loggedInAt": "", "localNetworkType": "wlan",
    "voipVersion": "", "isMobileDevice": False}
_CONFIG: Doc = {
    "wrap_up_time_outbound_active": True, "hold_active": False, "dialer_queue_active": False,
    "transfer_active": True, "post_attendance_active": True, "beep_termited_call_active": False,
    "dtmf_active": True, "wrap_up_time_inbound_active": True, "calling_timer_active": True,
    "pause_button_active": True, "dump_call_active": True, "send_logs_active": True}
_SCREEN_NAMES = {"disconnected": "Desconectado", "available": "Disponível", "ringing": "Tocando",
                 "busy": "Ocupado", "wrapup": "Pós-atendimento", "pause": "Em pausa"}
_NEXT = {"available": "ringing", "ringing": "busy", "busy": "wrapup"}  # else "available"
# (description, description_name, pause type id, scheduled, changed by, seconds min, max);
# repeats weigh. Other screens last (ms): see _LASTS; "available" fills the rest of the day.
_PAUSES = ((("banheiro", "Banheiro", 2, False, "voip", 180, 480),) * 4
           + (("cafe", "Café", 3, False, "voip", 420, 900),) * 3
           + (("almoco", "Almoço", 1, True, "voip", 3300, 3900),) * 2
           + (("treinamento", "Treinamento", 4, True, "supervisor", 1800, 3600),
              ("feedback", "Feedback", 5, False, "supervisor", 600, 1200),
              ("reuniao", "Reunião", 6, True, "voip", 1200, 2700)))
_LASTS = {"ringing": (4_000, 28_000), "busy": (40_000, 600_000), "wrapup": (10_000, 90_000)}
# (uf, state, city, DDD, lat, long)
_CITIES = (("TO", "Tocantins", "Palmas", "63", "-10.168891", "-48.3317167"),
           ("SP", "São Paulo", "São Paulo", "11", "-23.5505199", "-46.6333094"),
           ("SP", "São Paulo", "Campinas", "19", "-22.9056391", "-47.059564"),
           ("RJ", "Rio de Janeiro", "Rio de Janeiro", "21", "-22.9068467", "-43.1728965"),
           ("MG", "Minas Gerais", "Belo Horizonte", "31", "-19.9166813", "-43.9344931"),
           ("BA", "Bahia", "Salvador", "71", "-12.9730401", "-38.502304"),
           ("PR", "Paraná", "Curitiba", "41", "-25.4284", "-49.2733"),
           ("RS", "Rio Grande do Sul", "Porto Alegre", "51", "-30.0346471", "-51.2176584"),
           ("PE", "Pernambuco", "Recife", "81", "-8.0475622", "-34.8769643"),
           ("CE", "Ceará", "Fortaleza", "85", "-3.7318616", "-38.5266704"),
           ("GO", "Goiás", "Goiânia", "62", "-16.6868912", "-49.2647943"),
           ("PA", "Pará", "Belém", "91", "-1.4557549", "-48.4901799"))
_PROVIDERS = ("OI", "VIVO", "CLARO", "TIM")
# (0800 number, number_name, number_host, number_info1..3)
_DNIS = (("08008870608", "Central de Vendas", "www.rodabrasil.com.br", "Vendas", "Nacional",
          "Prioridade alta"),
         ("08005911234", "SAC Frotas", "www.frotasul.com.br", "Suporte", "Sul", "Padrão"))
_PATHS = (("1",), ("2",), ("3",), ("1", "2"), ("2", "4"), ("1", "3", "2"), ("2", "1"), ("3", "1"))
_MENUS = {"1": "Vendas", "2": "Suporte", "3": "Financeiro"}  # any other digit is invalid
_STATUS_BAG = ("answered",) * 12 + ("abandoned",) * 4 + ("no_answer",) * 2 + ("busy",)
_STATUS_TEXT = {"answered": ("Chamada Atendida", "attended"),
                "abandoned": ("Chamada Abandonada", "ring_off"),
                "no_answer": ("Chamada Não Atendida", "no_answer"),
                "busy": ("Chamada Ocupada", "busy")}
_NOT_ANSWERED = ("no_answer", "Não atendida")
_AUDIO_URL = "https://app.atendesimples.com/public/audios/"
_LEGS = {"attendant": "Atendente", "ura": "URA", "voicemail": "Caixa postal"}
_MY_STATUS = (("1", "Venda realizada"), ("2", "Sem interesse"), ("3", "Retornar ligação"),
              ("4", "Dúvida resolvida"), ("9", "Encaminhado ao financeiro"))
_TAGS = ("", "VIP", "Cliente novo", "Reclamação", "Renovação de contrato")
_RATES = (15, 27, 45, 60, 135)  # cents per started minute
_CARD_1 = ("Truck", "Caminhão", "Carreta", "Van", "Ônibus", "Utilitário")
_CARD_2 = ("Grade Baixa", "Grade Média", "Grade Alta")
_CARD_3 = ("NÃO", "SIM")
_IMPORTS = ("Atende Simples - Format", "Renovação Frota - Lote", "Clientes Inativos - Sul",
            "Leads Feira de Transportes", "Cobrança Março")
# The CDR example's keys in order, with the values that never vary; _cdr sets the rest.
_CDR: Doc = {
    "callid": "", "my_status_name": "", "selected_options": "", "number_info3": "",
    "number_info2": "", "call_status_humanized": "", "selected_call_classification_tags": None,
    "number_info1": "", "ani_uf": "", "call_status": "", "uraduration": 0, "dnis": "",
    "period": "", "public_audio_url": None, "my_status_code": "", "voicemail": False,
    "ani_long": "", "block_reason": None, "ani_state": "", "number_host": "", "total_charge": "",
    "dialduration": 0, "dialer_type": None, "result_leg_a_humanized": None,
    "block_reason_humanized": None, "number_name": "", "configuration_kind": "default",
    "leg_a_type_humanized": "", "call_status_complement": "", "week_day": "",
    "period_humanized": "", "ani_city": "", "period_complement": None, "my_tags": "",
    "direction_humanized": "", "has_audio": False, "alt_dnis": "", "ani_provider": "",
    "my_status_info_2": None, "my_status_info_1": None, "my_status_info_3": None,
    "ani_prefix": "", "ani_kind": "cellphone", "redirects": None, "interactions": None,
    "leg_a_type": "", "call_terminated": "", "configuration_kind_humanized": "Padrão",
    "ori_end_time": "", "ori_charge": "", "ani_lat": "", "customer_info": None, "ani": "",
    "ring_duration_a": None, "ring_duration_b": None, "direction": "", "ring_duration_c": None,
    "queue_dialer_name": None, "card_info_1": None, "result_leg_a": None,
    "my_status_complement_2": None, "result_leg_b": None, "my_status_complement_1": None,
    "zendesk_ticket_id": None, "result_leg_b_humanized": None, "audio_processing_state": "idle",
    "duration_call": 0, "ori_start_time": "", "ori_billing_time": 0, "card_info_2": None,
    "card_info_3": None}
_REDIRECT: Doc = {
    "group_id": 1, "attendable_type": "Attendant", "ori_real_time": 0, "billing_time": 60,
    "charge": "0.00", "initial_date": "", "end_time": "", "attendant_ani": "", "option": 1,
    "redirect_terminated": "A", "user_name": "", "user_email": "", "user_extension": "",
    "sipcode": None, "mailbox_detected": False, "timeout_voscenter": "f"}
_INTERACTIONS: dict[str, Doc] = {option: {
    "flow_kind": "default", "redirecting_option": int(option) if option in _MENUS else None,
    "name": _MENUS.get(option), "digits": "",
    "validation_status": "success" if option in _MENUS else "error", "status_humanized": None,
    "validation_status_humanized": "Válida" if option in _MENUS else "Inválida",
    "option_selected": option, "status": None} for option in "123456789"}
# fmt: on


@dataclass(frozen=True)
class DemoPlan:
    """What to generate: a period (``start`` is normalised to UTC) and how many documents."""

    start: datetime
    days: int = 28
    attendants: int = 8
    attendant_logs: int = 5000
    cdrs: int = 3000
    cards: int = 1000
    seed: int = 7

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("start precisa ter fuso horário")
        if self.days < 1 or self.attendants < 1:
            raise ValueError("days e attendants precisam ser pelo menos 1")
        if min(self.attendant_logs, self.cdrs, self.cards) < 0:
            raise ValueError("as quantidades não podem ser negativas")
        if self.cards > 10**8:
            raise ValueError("no máximo 100 milhões de fichas (números únicos)")
        object.__setattr__(self, "start", self.start.astimezone(UTC))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def default_plan(now: datetime | None = None) -> DemoPlan:
    """The 28 days ending at today's midnight in America/Sao_Paulo."""
    moment = datetime.now(UTC) if now is None else now
    if moment.utcoffset() is None:
        raise ValueError("now precisa ter fuso horário")
    first = moment.astimezone(ZONE).date() - timedelta(days=28)
    return DemoPlan(start=datetime(first.year, first.month, first.day, tzinfo=ZONE))


def _ms(moment: datetime) -> int:
    """Epoch milliseconds, rounded up (so a period's first millisecond is inside it)."""
    return -((_EPOCH - moment) // _MS)


class _Clock:
    """Formats integer epoch times, caching per UTC hour the text up to the hour (strftime is
    slow) and São Paulo's offset, which has been a whole number of hours since 1914."""

    def __init__(self) -> None:
        self._utc: dict[int, str] = {}
        self._local: dict[int, tuple[str, str, int, int]] = {}

    def utc(self, ms: int) -> str:
        """``2020-02-06T20:28:34.072Z``"""
        seconds, milli = divmod(ms, 1000)
        hour, rest = divmod(seconds, 3600)
        prefix = self._utc.get(hour)
        if prefix is None:
            moment = datetime.fromtimestamp(hour * 3600, UTC)
            prefix = self._utc[hour] = moment.strftime("%Y-%m-%dT%H:")
        return f"{prefix}{_TWO[rest // 60]}:{_TWO[rest % 60]}.{_MILLI[milli]}Z"

    def local(self, seconds: int) -> tuple[str, int, int]:
        """``2020-01-27T19:28:13.000-03:00``, local days since epoch and local second of day."""
        hour, rest = divmod(seconds, 3600)
        hit = self._local.get(hour)
        if hit is None:
            moment = datetime.fromtimestamp(hour * 3600, ZONE)
            if moment.minute or moment.second:
                raise ValueError("datas antes de 1914 não são suportadas")
            off = int((moment.utcoffset() or timedelta(0)).total_seconds())
            suffix = (
                f"{'-' if off < 0 else '+'}{_TWO[abs(off) // 3600]}:{_TWO[abs(off) // 60 % 60]}"
            )
            day, of_day = divmod(hour * 3600 + off, 86_400)
            hit = self._local[hour] = (moment.strftime("%Y-%m-%dT%H:"), suffix, day, of_day)
        prefix, suffix, day, of_day = hit
        text = f"{prefix}{_TWO[rest // 60]}:{_TWO[rest % 60]}.000{suffix}"
        return text, day, of_day + rest


class _Rng(random.Random):
    """``random.Random`` with cheaper choice and randint: one C call each."""

    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.random() * len(seq))]

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        return low + int(self.random() * (high - low + 1))


class _Agent(NamedTuple):
    name: str
    email: str
    extension: str
    sip: str
    groups: tuple[int, ...]
    dnis: str
    config: Doc
    machine: Doc


def _roster(plan: DemoPlan) -> list[_Agent]:
    """The plan's agents; the same for every kind, so CDR redirects name real attendants."""
    rng = _Rng(f"{plan.seed}:roster")
    names = [f"{first} {last}" for first in _FIRST for last in _LAST]
    rng.shuffle(names)
    agents: list[_Agent] = []
    emails: set[str] = set()
    for i in range(plan.attendants):
        name = names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
        plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
        email = plain.replace(" ", ".") + "@atende.com"
        email = f"{i}.{email}" if email in emails else email
        emails.add(email)
        extension = str(101 + i)
        groups = (_GROUPS[i % 3],) + ((_GROUPS[(i + 1) % 3],) if rng.random() < 0.3 else ())
        os_name, os_version, browser, browser_version = rng.pick(_DEVICES)
        version = rng.pick(_VERSIONS)
        machine = dict(_MACHINE, publicAddress=f"177.126.85.{rng.between(2, 253)}")
        machine.update(
            hasWebcam=rng.random() < 0.6, osName=os_name, voipNumberVersion=version,
            osVersion=os_version, localAddress=f"192.168.1.{100 + i % 150}",
            browserVersion=browser_version, browserName=browser, voipVersion=f"Versão {version}",
            localNetworkType=rng.pick(("wlan", "ethernet")),
        )  # fmt: skip
        wrap = rng.random() < 0.8
        config = dict(_CONFIG, hold_active=rng.random() < 0.5)
        config.update(
            dialer_queue_active=rng.random() < 0.3, wrap_up_time_outbound_active=wrap,
            post_attendance_active=wrap, wrap_up_time_inbound_active=wrap,
        )  # fmt: skip
        sip = "909001970" + extension
        agents.append(_Agent(name, email, extension, sip, groups, _DNIS[i % 2][0], config, machine))
    return agents


def _work_windows(plan: DemoPlan) -> list[tuple[int, int]]:
    """UTC ms ``[from, to)`` of each Monday–Saturday 08:00–18:00 local, clipped to the plan."""
    lo, hi = _ms(plan.start), _ms(plan.end)
    day, last = plan.start.astimezone(ZONE).date(), plan.end.astimezone(ZONE).date()
    windows = []
    while day <= last:
        if day.weekday() < 6:
            a = max(lo, _ms(datetime(day.year, day.month, day.day, 8, tzinfo=ZONE)))
            b = min(hi, _ms(datetime(day.year, day.month, day.day, 18, tzinfo=ZONE)))
            if a < b:
                windows.append((a, b))
        day += timedelta(days=1)
    return windows


def attendant_logs(plan: DemoPlan, id_offset: int = 0) -> Iterator[Doc]:
    """Each agent's working days, Monday–Saturday 08:00–18:00 São Paulo; ids from id_offset+1.

    Raises ``ValueError`` (on the first ``next``) when documents are asked for but the period
    has no working hours.
    """
    total = plan.attendant_logs
    windows = _work_windows(plan)
    if total and not windows:
        raise ValueError("o período não tem horário comercial (seg–sáb, 08h–18h)")
    rng, clock, agents = _Rng(f"{plan.seed}:attendant-logs"), _Clock(), _roster(plan)
    weight = sum(b - a for a, b in windows) * len(agents)
    acc = done = 0
    next_id = id_offset + 1
    for a, b in windows:  # each (day, agent) gets its share of the total, by time worked
        span = b - a
        logins = [a + min(rng.between(0, 1_200_000), span // 4) for _ in agents[::2]]
        for number, agent in enumerate(agents):
            acc += span
            count = total * acc // weight - done
            done += count
            login = logins[number // 2]  # agents log in in pairs, at the same millisecond
            logout = max(login, b - 1 - min(rng.between(0, 900_000), span // 4))
            yield from _agent_day(rng, clock, agent, login, logout, count, next_id)
            next_id += count


_Pause = tuple[str, str, int, bool, str, int, int]


def _agent_day(
    rng: _Rng, clock: _Clock, agent: _Agent, login: int, logout: int, count: int, first_id: int
) -> Iterator[Doc]:
    """``count`` events of one agent's day: login (disconnected, then available at the same
    instant), calls (ringing → busy → wrapup → available), pauses, logout (disconnected)."""
    screens: list[str] = []
    pauses: list[_Pause | None] = []
    lasts: list[int] = []  # natural length in ms; "available" gets a share of the idle time
    shares: list[float] = []
    screen, lunched = "disconnected", False
    for i in range(count):
        pause = None
        if i == 0 or (i == count - 1 and count > 2):
            screen = "disconnected"
        else:
            screen = _NEXT.get(screen, "available")
            if screen == "ringing" and rng.random() < 0.12:
                screen = "pause"
                pause = rng.pick(_PAUSES)
                if pause[0] == "almoco":
                    pause, lunched = (_PAUSES[0] if lunched else pause), True
            elif screen == "busy" and rng.random() < 0.15:
                screen = "available"  # nobody picked up
            elif screen == "wrapup" and not agent.config["post_attendance_active"]:
                screen = "available"
        low, high = (pause[5] * 1000, pause[6] * 1000) if pause else _LASTS.get(screen, (0, 0))
        screens.append(screen)
        pauses.append(pause)
        lasts.append(rng.between(low, high) if i and i < count - 1 else 0)
        shares.append(rng.random() + 0.2 if screen == "available" and i < count - 1 else 0.0)
    fixed, weights = sum(lasts), sum(shares)
    scale = min(1.0, 0.8 * (logout - login) / fixed) if fixed else 1.0  # crowded: squeeze
    idle = logout - login - sum(int(last * scale) for last in lasts)
    times, at = [], login
    for last, share in zip(lasts, shares, strict=True):
        times.append(at)
        at += int(last * scale) + (int(idle * share / weights) if share else 0)
    if count > 2:
        times[-1] = logout
    bits = rng.getrandbits
    machine = dict(agent.machine, sessionID=f"{bits(32):08x}-{bits(16):04x}-{bits(32):08x}")
    machine["loggedInAt"] = clock.utc(login)
    groups, config, send = agent.groups, agent.config, agent.config["send_logs_active"]
    last_index, ring = count - 1, 0
    call: tuple[str, str, str, str, str] | None = None
    for i, (at, screen, pause) in enumerate(zip(times, screens, pauses, strict=True)):
        kind = "login" if i == 0 else "logout" if i == last_index and i > 1 else "status"
        duration = (times[i + 1] - at) // 1000 if i < last_index else 0
        if screen == "ringing":
            inbound = rng.random() < 0.75
            call = (str(rng.between(60_000_000, 99_999_999)),
                    f"55{rng.pick(_CITIES)[3]}9{rng.between(0, 10**8 - 1):08d}",
                    "inbound" if inbound else "outbound", rng.pick(_DNIS)[0],
                    "ura" if inbound else "click_to_call")  # fmt: skip
            ring = duration
        elif screen not in ("busy", "wrapup"):
            call = None
        call_id, ani, direction, dnis, source = call or (None, None, None, agent.dnis, None)
        yield {
            "configuration": dict(config),
            "description": pause[0] if pause else None,
            "screen": screen,
            "source": "voip",
            "attendants_groups": [{"extension_number": group} for group in groups],
            "duration": duration,
            "attendant": {
                "sip_number": agent.sip,
                "extension_number": agent.extension,
                "name": agent.name,
                "email": agent.email,
            },
            "ani_number": ani,
            "last_machine_attributes": dict(machine),
            "screen_name": _SCREEN_NAMES[screen],
            "complements": {
                "offline": {},
                "wrapup": {"source": source, "direction": direction},
                "ringing": {
                    "duration": ring if call else 0,
                    "from": ani,
                    "source": source,
                    "direction": direction,
                    "has_error": False,
                },
                "inactive": {},
                "waiting": {},
                "busy": {
                    "transfer": None,
                    "dtmf": None,
                    "from": ani,
                    "source": source,
                    "direction": direction,
                },
                "pause": {"scheduled": pause[3], "type": {"id": pause[2], "name": pause[1]}}
                if pause
                else {"scheduled": False, "type": {}},
            },
            "description_name": pause[1] if pause else None,
            "dnis": dnis,
            "id": str(first_id + i),
            "email": agent.email,
            "timestamp": clock.utc(at),
            "machine_attributes": dict(machine),
            "status_changed_by": pause[4] if pause else "voip",
            "previous": None,
            "kind": kind,
            "call": {"x_call_id": None, "ani_number": ani, "dnis": dnis, "call_id": call_id},
            "last_statuses": None,
            "status_complements": None,
            "allow_save": True,
            "extension_number": agent.extension,
            "name": agent.name,
            "user": {},
            "send_logs_active": send,
        }


def cdrs(plan: DemoPlan, id_offset: int = 0) -> Iterator[Doc]:
    """Calls over the whole period, mostly in working hours; about one in twelve start times
    is shared by a burst of 2–6 calls. ``callid`` is 69700000 + id_offset + 1, 2, …"""
    rng, clock, agents = _Rng(f"{plan.seed}:cdrs"), _Clock(), _roster(plan)
    lo, hi = -(-_ms(plan.start) // 1000), -(-_ms(plan.end) // 1000)
    windows = _work_windows(plan)
    made = 0
    while made < plan.cdrs:
        if windows and rng.random() < 0.85:
            a, b = rng.pick(windows)
            second = max(lo, rng.between(a, b - 1) // 1000)
        else:
            second = rng.between(lo, hi - 1)
        start, day, of_day = clock.local(second)
        worktime = (day + 3) % 7 < 6 and _WORK_S[0] <= of_day < _WORK_S[1]
        burst = rng.between(2, 6) if rng.random() < 0.08 else 1
        for _ in range(min(burst, plan.cdrs - made)):
            made += 1
            callid = str(_CALLID_BASE + id_offset + made)
            yield _cdr(rng, clock, agents, callid, second, start, day, worktime)


def _cdr(
    rng: _Rng, clock: _Clock, agents: list[_Agent], callid: str, second: int, start: str,
    day: int, worktime: bool,
) -> Doc:  # fmt: skip
    inbound = rng.random() < 0.8
    dialer = not inbound and rng.random() < 0.6
    status, leg, talk, dial, redirected = rng.pick(_STATUS_BAG), "attendant", 0, 0, 0
    ura = rng.between(4, 60) if inbound else 0
    if inbound and not worktime:
        status, leg = ("no_answer", "voicemail") if rng.random() < 0.7 else ("abandoned", "ura")
        talk = rng.between(5, 60) if leg == "voicemail" else 0
    elif status == "answered":
        dial, talk = rng.between(3, 25), rng.between(20, 900)
        redirected = 2 if rng.random() < 0.15 else 1  # transferred once
    elif status == "no_answer":
        dial, redirected = rng.between(20, 45), 1
    elif status == "abandoned":
        redirected = int(rng.random() < 0.5)
        dial, leg = (rng.between(1, 30), "attendant") if redirected else (0, "ura")
    else:
        dial, leg = (0, "ura") if inbound else (rng.between(1, 5), "attendant")
    path = rng.pick(_PATHS) if inbound else ()
    option = next((int(o) for o in reversed(path) if o in _MENUS), 1)
    duration = ura + dial + talk
    redirects, at, left = [], second + ura, dial + talk
    for j in range(redirected):
        agent = rng.pick(agents)
        real = left if j == redirected - 1 else dial + talk // 3
        left -= real
        redirect = _REDIRECT.copy()
        redirect["group_id"] = _GROUPS.index(agent.groups[0]) + 1
        redirect["ori_real_time"] = real
        redirect["billing_time"] = max(60, -(-real // 60) * 60)
        redirect["initial_date"] = clock.local(at)[0]
        redirect["end_time"] = clock.local(at + real)[0]
        redirect["attendant_ani"] = "55" + agent.sip
        redirect["option"] = option
        redirect["redirect_terminated"] = "A" if rng.random() < 0.5 else "B"
        redirect["user_name"] = agent.name
        redirect["user_email"] = agent.email
        redirect["user_extension"] = agent.extension
        redirect["timeout_voscenter"] = "t" if status == "no_answer" else "f"
        redirects.append(redirect)
        at += real
    uf, state, city, ddd, lat, long = rng.pick(_CITIES)
    number, number_name, host, info1, info2, info3 = rng.pick(_DNIS)
    billing = max(60, -(-duration // 60) * 60)
    cents = billing // 60 * rng.pick(_RATES)
    has_audio = leg == "voicemail" or (status == "answered" and rng.random() < 0.9)
    # Copying a template and setting keys beats a literal, and the bench draws millions of
    # these (docs/benchmarks-history.md, "Figures from code comments").
    doc = _CDR.copy()
    doc["callid"] = callid
    doc["my_status_code"], doc["my_status_name"] = rng.pick(_MY_STATUS)
    doc["selected_options"] = ",".join(path)
    doc["number_info1"], doc["number_info2"], doc["number_info3"] = info1, info2, info3
    doc["call_status"] = status
    doc["call_status_humanized"], doc["call_status_complement"] = _STATUS_TEXT[status]
    doc["ani_uf"], doc["ani_state"], doc["ani_city"], doc["ani_prefix"] = uf, state, city, ddd
    doc["ani_lat"], doc["ani_long"] = lat, long
    doc["ani"] = f"55{ddd}9{rng.between(0, 10**8 - 1):08d}"
    doc["ani_provider"] = rng.pick(_PROVIDERS)
    doc["dnis"] = doc["alt_dnis"] = "55" + number
    doc["number_name"], doc["number_host"] = number_name, host
    doc["uraduration"], doc["dialduration"], doc["duration_call"] = ura, dial, duration
    doc["ori_start_time"], doc["ori_end_time"] = start, clock.local(second + duration)[0]
    doc["ori_billing_time"] = billing
    doc["total_charge"] = doc["ori_charge"] = f"{cents // 100}.{cents % 100:02d}"
    doc["week_day"] = _WEEKDAYS[(day + 3) % 7]
    doc["period"] = "worktime" if worktime else "after_hours"
    doc["period_humanized"] = "Horário normal" if worktime else "Fora do horário"
    doc["direction"] = "inbound" if inbound else "outbound"
    doc["direction_humanized"] = "Entrante" if inbound else "Sainte"
    doc["leg_a_type"], doc["leg_a_type_humanized"] = leg, _LEGS[leg]
    doc["voicemail"] = leg == "voicemail"
    doc["redirects"] = redirects
    doc["interactions"] = [_INTERACTIONS[o].copy() for o in path]
    doc["call_terminated"] = "A" if status == "abandoned" or rng.random() < 0.5 else "B"
    doc["my_tags"] = rng.pick(_TAGS)
    if has_audio:
        doc["has_audio"], doc["audio_processing_state"] = True, "done"
        doc["public_audio_url"] = f"{_AUDIO_URL}{rng.getrandbits(128):032x}"
    if rng.random() < 0.1:
        doc["zendesk_ticket_id"] = rng.between(10_000, 99_999)
    if dialer:
        done, done_text = ("answered", "Atendida") if status == "answered" else _NOT_ANSWERED
        doc["configuration_kind"], doc["configuration_kind_humanized"] = "dialer", "Discador"
        doc["dialer_type"], doc["queue_dialer_name"] = "power", "Campanha Renovação"
        doc["result_leg_a"] = doc["result_leg_b"] = done
        doc["result_leg_a_humanized"] = doc["result_leg_b_humanized"] = done_text
        doc["card_info_1"] = rng.pick(_CARD_1)
        doc["card_info_2"] = rng.pick(_CARD_2)
        doc["card_info_3"] = rng.pick(_CARD_3)
    return doc


def cards(plan: DemoPlan) -> Iterator[Doc]:
    """About five spreadsheet imports, spread over the period's working hours; every card of
    an import shares its one timestamp. Numbers are unique (at most 10**8 cards)."""
    rng, clock, total = _Rng(f"{plan.seed}:cards"), _Clock(), plan.cards
    imports = min(len(_IMPORTS), total)
    sizes = [rng.between(50, 150) for _ in range(imports)]  # each import gets at least one card
    cuts = [j + (total - imports) * sum(sizes[:j]) // sum(sizes) for j in range(imports)]
    cuts.append(total)
    windows = _work_windows(plan) or [(_ms(plan.start), _ms(plan.end))]
    scale, shift = 37_390_721, rng.randrange(10**8)  # i -> scale*i+shift mod 10**8 is 1-to-1
    for j in range(imports):
        a, b = windows[(2 * j + 1) * len(windows) // (2 * imports)]
        at = rng.between(a, b - 1)
        stamp, uploaded = clock.utc(at), clock.utc(max(a, at - rng.between(2_000, 8_000)))
        created = clock.utc(at - rng.between(3_600_000, 7 * _DAY_MS)).replace(":", "_")
        source = f"{_IMPORTS[j]}_{created}_{uploaded}.csv"
        _, day, of_day = clock.local(at // 1000)
        offset = day * 86_400 + of_day - at // 1000
        done = 0.85 - 0.75 * j / max(1, imports - 1)  # older imports are mostly dialed already
        limits = ((0.05, "scheduled"), (0.05 + done / 4, "failed"), (0.05 + done, "called"),
                  (0.08 + done, "calling"), (2.0, "to_call"))  # fmt: skip
        for i in range(cuts[j], cuts[j + 1]):
            r = rng.random()
            status = next(name for limit, name in limits if r < limit)
            scheduled, schedule = status == "scheduled", None
            if scheduled:  # a call-back 1–3 days later, 08:00–17:55 local, on a 5-minute mark
                back = day + rng.between(1, 3)
                back += (back + 3) % 7 == 6  # not on a Sunday
                later = back * 86_400 + rng.between(96, 215) * 300
                schedule = clock.local(later - offset)[0]
            yield {
                "card_info_1": rng.pick(_CARD_1),
                "number": f"55{rng.pick(_CITIES)[3]}9{(scale * i + shift) % 10**8:08d}",
                "schedule": schedule,
                "source": source,
                "is_scheduled": scheduled,
                "card_info_2": rng.pick(_CARD_2),
                "token": "****************",
                "card_info_3": rng.pick(_CARD_3),
                "status": status,
                "timestamp": stamp,
            }
