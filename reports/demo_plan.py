"""What the toy store's demo history holds, decided before anything is stored: its leads
(who they are, the day each arrives, how engaged it is), what each does day by day,
and what the personal shoppers do with the leads routed to them. Pure: no database
here; :mod:`reports.demo_history` plays it through the services.

Every choice comes from a random generator seeded with the seed and the thing it is
about (a lead's number, an email's campaign, a queue item): the same seed gives the
same history, whatever the order things are played in and however many leads there
are (lead 7 is the same lead in a history of 200 leads or of 3,000).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# How engaged a lead is: most are quiet, a few are hot.
QUIET, CASUAL, ENGAGED, HOT = "quiet", "casual", "engaged", "hot"

# Sessions (days with activity) per lead, mean days between them and events per session.
_SESSIONS = {QUIET: (1, 2), CASUAL: (2, 5), ENGAGED: (5, 12), HOT: (10, 18)}
_GAP_DAYS = {QUIET: 20.0, CASUAL: 9.0, ENGAGED: 3.0, HOT: 1.5}
_EVENTS_PER_SESSION = {QUIET: (1, 2), CASUAL: (1, 4), ENGAGED: (2, 6), HOT: (5, 10)}
# Of the nurture emails a lead gets, how many it opens; of those, how many it clicks.
OPEN_RATE = {QUIET: 0.12, CASUAL: 0.3, ENGAGED: 0.55, HOT: 0.75}
CLICK_RATE = 0.35

# Every built-in type, weighted as a toy store's site sees them. The toy store's rules
# score landing pages, emails and forms; the rest is activity its rules do not score.
_TYPES = (
    ("page_view", 44),
    ("email_open", 14),
    ("email_click", 7),
    ("form_submit", 9),
    ("download", 9),
    ("webinar", 3),
    ("survey_answer", 8),
    ("social_mention", 6),
)
_LANDING = (
    "/landing/holiday-gifts",
    "/landing/stem-kits",
    "/landing/back-to-school",
    "/landing/board-game-night",
)
_PAGES = ("/", "/toys/puzzles", "/toys/board-games", "/toys/stem", "/blog/wooden-blocks", "/stores/san-jose")
_NEWSLETTERS = ("newsletter-weekly", "newsletter-new-arrivals", "newsletter-events")
_FORMS = ("newsletter-signup", "contact", "birthday-club", "workshop-signup")
_DOWNLOADS = ("catalogue-2026.pdf", "25-activities.pdf", "gift-guide-by-age.pdf")
_NETWORKS = ("instagram", "facebook", "tiktok")

_FIRST = (
    "Ana", "Luis", "María", "José", "Sofía", "Carlos", "Valeria", "Diego", "Camila", "Andrés",
    "Daniela", "Jorge", "Gabriela", "Pablo", "Laura", "Mario", "Fernanda", "Ricardo", "Isabel", "Esteban",
)  # fmt: skip
_LAST = (
    "Rojas", "Mora", "Vargas", "Jiménez", "Solano", "Araya", "Castro", "Chaves", "Quesada", "Salazar",
    "Alvarado", "Campos", "Madrigal", "Brenes", "Núñez", "Ureña",
)  # fmt: skip
# City, its distance from the shop in San José (km).
_CITIES = (
    ("San José", 3, 38),
    ("Escazú", 9, 12),
    ("Heredia", 11, 12),
    ("Alajuela", 19, 10),
    ("Cartago", 24, 9),
    ("Puntarenas", 95, 7),
    ("Limón", 160, 6),
    ("Liberia", 215, 6),
)
_GOOD_INTERESTS = ("educational toys", "board games", "puzzles", "STEM kits")
_OTHER_INTERESTS = ("video games", "dolls", "outdoor toys", "model trains")
_GOOD_GOALS = ("gifts for children", "classroom", "collecting")
_OTHER_GOALS = ("resale", "just browsing")
_SCHOOLS = ("Escuela Juan Rafael Mora", "Colegio Monterrey", "Escuela República de Chile", "Kinder Arcoíris")

# Where the leads' addresses are: every domain under the .example top-level domain,
# reserved for examples (RFC 2606), so no address of the demo can reach a mailbox. An
# account is a whole email domain (scoring.accounts.email_domain), so each domain below
# is an account, but the free-mail ones, which the demo puts on the free-mail list.
FREE_MAIL = ("correo.example", "buzon.example")
_FREE_MAIL_WEIGHTS = (3, 1)
# Companies whose people buy at the shop, the first the most often (several leads each).
_EMPLOYERS = (
    "Banco del Valle Central", "Clínica Los Robles", "Constructora Volcán Azul", "Hotel Playa Serena",
    "Cafetalera Tres Colinas", "Seguros Cordillera", "Laboratorios Ceiba", "Supermercados La Cosecha",
    "Transportes Ruta Sur", "Agencia Brisa Digital", "Farmacias Santa Elena", "Telecom Istmo",
)  # fmt: skip
_EMPLOYER_WEIGHTS = tuple(1 / (k + 1) for k in range(len(_EMPLOYERS)))
# Small businesses of their own: "Ferretería Mora Vargas" (mostly one lead each).
_TRADES = (
    "Ferretería", "Panadería", "Consultorio", "Abogados", "Diseño", "Contadores", "Veterinaria", "Taller",
)  # fmt: skip
# Of the leads that are not teachers: at a free-mail address, at an employer, at their own business.
_AT_FREE_MAIL, _AT_EMPLOYER = 0.5, 0.85


@dataclass(frozen=True)
class Words:
    """What people wrote in the history, in one language: webinar titles, survey questions
    and answers, the personal shoppers' reasons and BANT notes. Every language has as many
    of each, in the same order, so a seed picks the same one in each: two histories of one
    seed differ only in their words. (Lead fields the rules test, such as interests, are
    data the store's forms send, and the same in every language.)"""

    webinars: tuple[str, ...]
    survey: tuple[tuple[str, tuple[str, ...]], ...]
    reject_reasons: tuple[str, ...]
    disqualify_reasons: tuple[str, ...]
    lost_reasons: tuple[str, ...]
    bant: dict[str, tuple[str, ...]]


ENGLISH = Words(
    webinars=("Choosing STEM kits that last", "Board games for the classroom"),
    survey=(
        ("Who do you buy for?", ("my children", "my classroom", "my collection", "gifts")),
        ("What would bring you to the shop?", ("workshops", "offers", "new arrivals", "advice")),
    ),
    reject_reasons=(
        "Wrong contact details",
        "Already buys from another shop under contract",
        "A student project, not a buyer",
        "Duplicate of a lead already being served",
    ),
    disqualify_reasons=(
        "Budget: no toy budget until next year",
        "Authority: the school's purchasing office decides, not this contact",
        "Need: looking for video games, which the shop does not sell",
        "Timeline: buying only for next holiday season",
    ),
    lost_reasons=(
        "Bought online elsewhere, cheaper",
        "Went quiet after the quote",
        "Chose a smaller gift than offered",
        "Moved out of the city",
    ),
    bant={
        "budget": ("About $80 a month on toys", "$300 for the classroom this term", "Up to $150 for a birthday"),
        "authority": ("Buys for the family", "Head teacher, decides the classroom budget", "Collector, buys alone"),
        "need": ("Gifts for two children, 4 and 7", "STEM kits for 25 pupils", "Rare puzzles for a collection"),
        "timeline": ("Before the holidays", "This month", "Within two weeks"),
    },
)
SPANISH = Words(
    webinars=("Cómo elegir kits STEM que duren", "Juegos de mesa para el aula"),
    survey=(
        ("¿Para quién compra?", ("mis hijos", "mi aula", "mi colección", "regalos")),
        ("¿Qué le traería a la tienda?", ("talleres", "ofertas", "novedades", "consejos")),
    ),
    reject_reasons=(
        "Datos de contacto equivocados",
        "Ya compra en otra tienda con contrato",
        "Un proyecto de estudiante, no un comprador",
        "Duplicado de un lead que ya se atiende",
    ),
    disqualify_reasons=(
        "Presupuesto: sin presupuesto para juguetes hasta el año que viene",
        "Autoridad: decide la oficina de compras de la escuela, no este contacto",
        "Necesidad: busca videojuegos, que la tienda no vende",
        "Plazo: solo compra para la próxima temporada navideña",
    ),
    lost_reasons=(
        "Compró más barato en línea en otro sitio",
        "Dejó de responder tras la cotización",
        "Eligió un regalo más pequeño que el ofrecido",
        "Se mudó fuera de la ciudad",
    ),
    bant={
        "budget": ("Unos $80 al mes en juguetes", "$300 para el aula este trimestre", "Hasta $150 para un cumpleaños"),
        "authority": (
            "Compra para la familia",
            "Directora, decide el presupuesto del aula",
            "Coleccionista, compra solo",
        ),
        "need": (
            "Regalos para dos niños, de 4 y 7 años",
            "Kits STEM para 25 alumnos",
            "Rompecabezas raros para una colección",
        ),
        "timeline": ("Antes de las fiestas", "Este mes", "En dos semanas"),
    },
)
WORDS = {"en": ENGLISH, "es": SPANISH}

GOLDEN = 0.6180339887498949


@dataclass(frozen=True)
class PlannedEvent:
    key: str  # idempotency key: the same event is stored once, however often the plan is played
    day: int  # 0 = the history's first day
    seconds: int  # after midnight, the site's time
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class PlannedLead:
    number: int
    external_id: str
    email: str
    fields: dict[str, Any]  # lead fields other systems may write (attributes among them)
    arrival: int  # the day it first shows up
    activity: str  # QUIET, CASUAL, ENGAGED or HOT
    events: tuple[PlannedEvent, ...] = field(default=())


def external_id(number: int) -> str:
    return f"demo-{number:05d}"


def lead_number(external: str) -> int | None:
    """The number of a demo lead's external id, or None for a lead that is not one."""
    head, _, tail = external.partition("demo-")
    return int(tail) if not head and tail.isdigit() else None


def _rng(seed: int, *about: object) -> random.Random:
    return random.Random(":".join(str(part) for part in (seed, *about)))


def arrival_weights(days: int, *, first_weekday: int = 0) -> list[float]:
    """How likely each day is to bring a new lead: a store growing over the period, quieter at
    weekends (``first_weekday``: day 0's, Monday 0)."""
    return [
        (1 + 0.8 * k / max(1, days - 1)) * (0.55 if (first_weekday + k) % 7 in (5, 6) else 1.0) for k in range(days)
    ]


def lead_plan(
    *, seed: int, number: int, days: int, weights: list[float] | None = None, words: Words = ENGLISH
) -> PlannedLead:
    """Lead ``number`` of the history: who it is, when it arrives and what it does."""
    rng = _rng(seed, "lead", number)
    quality = rng.random()  # good fit and engagement go together, loosely
    level = 0.6 * quality + 0.4 * rng.random()
    activity = QUIET if level < 0.45 else CASUAL if level < 0.62 else ENGAGED if level < 0.77 else HOT
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, distance, _ = rng.choices(_CITIES, weights=[c[2] for c in _CITIES])[0]
    attributes: dict[str, Any] = {
        "distance_km": max(1, distance + rng.randint(-5, 5)),
        "interests": rng.choice(_GOOD_INTERESTS if rng.random() < 0.35 + 0.55 * quality else _OTHER_INTERESTS),
        "goal": rng.choice(_GOOD_GOALS if rng.random() < 0.3 + 0.6 * quality else _OTHER_GOALS),
        "monthly_toy_spend": int(10 + quality * 90 * rng.random() + rng.random() * 40),
    }
    if city != "San José" and attributes["distance_km"] < 40 and rng.random() < 0.4:
        attributes["work_city"] = "San José"
    fields: dict[str, Any] = {
        "first_name": first,
        "last_name": last,
        "city": city,
        "country": "Costa Rica",
        "attributes": attributes,
    }
    if attributes["goal"] == "classroom":
        fields.update(title="Teacher", company=rng.choice(_SCHOOLS), industry="Education")
    ext = external_id(number)
    domain, company = _workplace(seed, number, school=fields.get("company"))
    if company is not None:
        fields.setdefault("company", company)
    email = f"{_ascii(first)}.{_ascii(last)}.{number}@{domain}".lower()
    arrival = rng.choices(range(days), weights=weights or arrival_weights(days))[0]
    events = _events_plan(rng, ext=ext, activity=activity, arrival=arrival, days=days, words=words)
    return PlannedLead(number, ext, email, fields, arrival, activity, events)


def _ascii(name: str) -> str:
    return name.translate(str.maketrans("áéíóúñÁÉÍÓÚÑ", "aeiounAEIOUN"))


def _domain(company: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in _ascii(company).lower()).split()) + ".example"


def _workplace(seed: int, number: int, *, school: str | None) -> tuple[str, str | None]:
    """The domain of lead ``number``'s email, and its company if that is where it works:
    a teacher's school, else a free-mail provider, an employer of several leads, or a
    business of its own. Drawn apart from the rest of the lead, which stays as it was."""
    if school is not None:
        return _domain(school), school
    rng = _rng(seed, "workplace", number)
    where = rng.random()
    if where < _AT_FREE_MAIL:
        return rng.choices(FREE_MAIL, weights=_FREE_MAIL_WEIGHTS)[0], None
    if where < _AT_EMPLOYER:
        company = rng.choices(_EMPLOYERS, weights=_EMPLOYER_WEIGHTS)[0]
    else:
        company = " ".join([rng.choice(_TRADES), *rng.sample(_LAST, 2)])
    return _domain(company), company


def _events_plan(
    rng: random.Random, *, ext: str, activity: str, arrival: int, days: int, words: Words
) -> tuple[PlannedEvent, ...]:
    """The lead's sessions: days with a burst of activity, the first on its arrival (it signs
    up through a form), the next after gaps whose mean depends on how engaged it is."""
    sessions = rng.randint(*_SESSIONS[activity])
    day = arrival
    session_days = []
    for _ in range(sessions):
        if day >= days:
            break
        session_days.append(day)
        day += 1 + int(rng.expovariate(1 / _GAP_DAYS[activity]))
    events: list[PlannedEvent] = []
    types, weights = zip(*_TYPES, strict=True)
    for n, day in enumerate(session_days):
        start = rng.randint(7 * 3600, 21 * 3600)
        count = rng.randint(*_EVENTS_PER_SESSION[activity])
        kinds = ["form_submit"] if n == 0 else []
        kinds += rng.choices(types, weights=weights, k=count)
        for kind in kinds:
            start = min(start + rng.randint(20, 900), 23 * 3600)
            key = f"{ext}-{len(events):03d}"
            events.append(PlannedEvent(key, day, start, kind, _properties(rng, kind, first=n == 0, words=words)))
    return tuple(events)


def _properties(rng: random.Random, kind: str, *, first: bool, words: Words) -> dict[str, Any]:
    if kind == "page_view":
        url = rng.choice(_LANDING) if rng.random() < 0.5 else rng.choice(_PAGES)
        return {"url": f"https://toys.example{url}", "seconds_on_page": rng.randint(5, 240)}
    if kind in ("email_open", "email_click"):
        properties: dict[str, Any] = {"campaign": rng.choice(_NEWSLETTERS)}
        if kind == "email_click":
            properties["url"] = "https://toys.example" + rng.choice(_PAGES)
        return properties
    if kind == "form_submit":
        return {"form": "newsletter-signup" if first else rng.choice(_FORMS)}
    if kind == "download":
        return {"file": rng.choice(_DOWNLOADS)}
    if kind == "webinar":
        return {"title": rng.choice(words.webinars), "minutes_watched": rng.randint(5, 55)}
    if kind == "survey_answer":
        question, answers = rng.choice(words.survey)
        return {"question": question, "answer": rng.choice(answers)}
    return {"network": rng.choice(_NETWORKS), "sentiment": rng.choice(("positive", "positive", "neutral"))}


@dataclass(frozen=True)
class NurtureResponse:
    opened: bool
    clicked: bool
    after_seconds: int  # after the email was sent


def nurture_response(*, seed: int, number: int, activity: str, campaign: str) -> NurtureResponse:
    """Whether lead ``number`` opens (and clicks) a nurture email of ``campaign``."""
    rng = _rng(seed, "email", number, campaign)
    opened = rng.random() < OPEN_RATE[activity]
    clicked = opened and rng.random() < CLICK_RATE
    return NurtureResponse(opened, clicked, rng.randint(600, 8 * 3600))


@dataclass(frozen=True)
class SalesPlan:
    """What the personal shopper does with one queue item, and after how many days."""

    claim_after: int  # days after the item entered the queue
    decision_after: int  # days after the claim: reject, or accept
    rejected: str  # reason, or "" if accepted
    qualify_after: int  # days after accepting: disqualify, or qualify
    disqualified: str  # reason, or "" if qualified
    bant: dict[str, str]
    close_after: int  # days after qualifying: won or lost
    close_draw: float  # won when below won_chance(score)
    lost_reason: str


def sales_plan(*, seed: int, number: int, visit: int, order: int, words: Words = ENGLISH) -> SalesPlan:
    """The plan for lead ``number``'s ``visit``-th queue item (0 first), the ``order``-th
    item of the history. Rejections and disqualifications are spread evenly over the
    items in order (a low-discrepancy sequence), so even a small history has each kind."""
    rng = _rng(seed, "item", number, visit)
    path = (order * GOLDEN + _rng(seed, "path").random()) % 1.0
    rejected = rng.choice(words.reject_reasons) if path < 0.14 else ""
    disqualified = rng.choice(words.disqualify_reasons) if 0.14 <= path < 0.32 else ""
    return SalesPlan(
        claim_after=rng.choice((0, 0, 1, 1, 2)),
        decision_after=rng.choice((0, 0, 1)),
        rejected=rejected,
        qualify_after=rng.randint(1, 3),
        disqualified=disqualified,
        bant={name: rng.choice(values) for name, values in words.bant.items()},
        close_after=rng.randint(1, 6),
        close_draw=rng.random(),
        lost_reason=rng.choice(words.lost_reasons),
    )


def won_chance(score: int) -> float:
    """How likely a qualified lead with this total score is to buy: the score works."""
    return min(0.9, max(0.1, 0.2 + (score - 75) / 40))
