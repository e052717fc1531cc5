"""What judging a scoring batch's awards costs a worker (``scoring.rules.score_interactions_in_order``).

    .venv/bin/python bench/batch_awards.py [--events 1500] [--repeat 200]

A worker's batch of ``--events`` interactions as ``bench/ingest.py`` sends them (50,000
leads, so most leads have one interaction in a batch), judged ``--repeat`` times against
the engagement rules of the toy store (three), then of the toy store with the two further
scorecards of ``bench/ingest.py --scorecards 3`` (eleven), two ways, alternating twice:

- the baseline: every rule given a cap no lead reaches, so that each goes the long way, as
  every rule did before rules without a cap took a short one (their interactions' places
  in time, the awards that stand, a cap's count for each);
- the function as it is.

Both give the same awards (checked). It prints the processor time per interaction and the
ratio to the baseline measured in the same run (lower is better). No database needed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import cpu_per_call, django_setup  # noqa: E402
from ingest import make_events  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1500, help="interactions in the batch (a worker's batch)")
    parser.add_argument("--repeat", type=int, default=200, help="batches per measurement")
    args = parser.parse_args()
    django_setup()
    from scoring import rules as pure

    def rule(pk: int, points: int, kinds: list[str], url: str | None = None, operator: str = "contains") -> pure.Rule:
        conditions = (pure.Condition("url", pure.Operator(operator), url),) if url else ()
        return pure.Rule(pk, pure.Dimension.ENGAGEMENT, points, conditions, interaction_types=frozenset(kinds))

    # examples/toy_store.yaml's engagement rules, and bench/ingest.py's SCORECARD twice more.
    toy_store = [
        rule(1, 2, ["page_view"], "*/landing/*", "matches"),
        rule(2, 2, ["email_open", "email_click"]),
        rule(3, 2, ["form_submit"]),
    ]
    scorecards = [
        rule(10 * card + n, points, kinds, url)
        for card in (1, 2)
        for n, (points, kinds, url) in enumerate(
            [
                (2, ["page_view"], "/landing/"),
                (1, ["page_view"], "/blog/"),
                (3, ["email_open", "email_click"], None),
                (5, ["form_submit", "download"], None),
            ]
        )
    ]
    batch = []
    for n, event in enumerate(make_events(args.events, 50_000, prefix="awards")):
        lead, properties = event["lead"], event["properties"]
        assert isinstance(lead, dict)
        assert isinstance(properties, dict)
        lead_id = int(lead["email"].split("@")[0].removeprefix("lead"))
        occurred_at = datetime.fromisoformat(str(event["occurred_at"]))
        batch.append(pure.InteractionFacts(n, lead_id, str(event["type"]), occurred_at, properties))
    never = pure.Cap(count=10**9)
    repeat: int = args.repeat

    def measure(rules: Sequence[pure.Rule]) -> float:
        return cpu_per_call(lambda: pure.score_interactions_in_order(rules, batch, {}), repeat) / len(batch)

    print(f"A batch of {len(batch):,} interactions, {repeat} times; processor time per interaction")
    for label, rules in (("the toy store (3 rules)", toy_store), ("3 scorecards (11 rules)", toy_store + scorecards)):
        long_way = [dataclasses.replace(r, cap=never) for r in rules]
        awards = pure.score_interactions_in_order(rules, batch, {})
        assert awards == pure.score_interactions_in_order(long_way, batch, {})
        for round_ in (1, 2):
            base, now = measure(long_way), measure(rules)
            print(
                f"  {label}, round {round_}: every rule the long way (baseline) {base * 1e6:.2f} µs;"
                f" as it is {now * 1e6:.2f} µs; ratio {now / base:.2f} ({len(awards):,} awards)"
            )


if __name__ == "__main__":
    main()
