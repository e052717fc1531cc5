"""What reading an events request costs the web process in JSON: the body parsed, and each
event's properties written as the text the database stores.

    .venv/bin/python bench/intake_body.py [--events 1000] [--repeat 200]

A body of ``--events`` events as ``bench/ingest.py`` sends them, ``--repeat`` times, two
ways, alternating twice:

- the baseline: Python's ``json`` as the intake used it (``json.loads`` with the finite-number
  and constant hooks, then ``json.dumps`` of each event's properties, compact, non-ASCII kept);
- the intake as it is (``intake.bodies.json_parse`` and ``json_text``).

It prints, before those, what checking the parsed events costs (``events_check``: their
fields, times, addresses and properties; the body's addresses are remembered after its first
time), a figure without a baseline of its own; and what checking ``--addresses`` addresses
seen for the first time costs (people of 50 companies), alternating twice: Django's
``validate_email`` (the baseline) and the intake's check as it is.

Both parse the same checked structure (depth, surrogates) and store the same values; it
prints the processor time per body and per event, and the ratio to the baseline measured in
the same run (lower is better). No database needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import cpu_per_call, django_setup  # noqa: E402
from ingest import make_events  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events per body (the API's batch)")
    parser.add_argument("--repeat", type=int, default=200, help="bodies per measurement")
    parser.add_argument("--addresses", type=int, default=100_000, help="new addresses per measurement")
    args = parser.parse_args()
    django_setup()
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email
    from django.utils import timezone

    from intake import bodies
    from intake import events as checks
    from intake.events import events_check

    body = json.dumps({"events": make_events(args.events, max(1, args.events // 4), prefix="body")}).encode()

    def before() -> list[str]:
        # As json_parse read every body before orjson: the text decoded once, for both.
        text = body.decode()
        data = json.loads(text, parse_float=bodies._finite, parse_constant=bodies._no_constant)
        bodies._structure_check(data, surrogates=bool(bodies._SURROGATE_ESCAPE.search(text)))
        return [json.dumps(e["properties"], separators=(",", ":"), ensure_ascii=False) for e in data["events"]]

    def now() -> list[str]:
        return [bodies.json_text(e["properties"]) for e in bodies.json_parse(body)["events"]]

    assert [json.loads(text) for text in before()] == [json.loads(text) for text in now()]

    repeat: int = args.repeat

    def measure(read: Callable[[], object]) -> float:
        return cpu_per_call(read, repeat)

    raws, moment = bodies.json_parse(body)["events"], timezone.now()
    print(f"A body of {args.events:,} events ({len(body):,} bytes), {args.repeat} times; processor time")
    check = measure(lambda: events_check(raws, now=moment))
    print(f"  the event checks after parsing (intake.events.events_check): {check / args.events * 1e6:.1f} µs an event")
    addresses = [f"person{n}@company{n % 50}.example" for n in range(args.addresses)]

    def django_check() -> None:
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise AssertionError(address) from None

    def intake_check() -> None:
        checks._email_valid.cache_clear()  # each address new, as the first time the intake sees it
        checks._email_domain_valid.cache_clear()
        assert all(checks._email_valid(address) for address in addresses)

    def timed(check_: Callable[[], None]) -> float:
        return cpu_per_call(check_, 1, warm=0) / len(addresses)  # once: every address new

    for round_ in (1, 2):
        base, cpu = timed(django_check), timed(intake_check)
        print(
            f"  addresses seen for the first time, round {round_}: Django's validate_email (baseline)"
            f" {base * 1e6:.2f} µs an address; the intake {cpu * 1e6:.2f} µs; ratio {cpu / base:.2f}"
        )
    for round_ in (1, 2):
        base, cpu = measure(before), measure(now)
        print(
            f"  round {round_}: Python's json (baseline) {base * 1e3:.2f} ms a body ({base / args.events * 1e6:.1f} µs"
            f" an event); the intake {cpu * 1e3:.2f} ms ({cpu / args.events * 1e6:.1f} µs); ratio {cpu / base:.2f}"
        )


if __name__ == "__main__":
    main()
