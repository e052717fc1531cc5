"""A synthetic company history with columns of its own (not X Education's): a plan, a
seat count, a yes/no, a free-text country with rare values, a column that gives the
outcome away (filled in by sales after contact), and some missing values."""

from __future__ import annotations

import math
import random

from scoring.predictive.features import LeadFacts

PLANS = {"starter": -1.0, "team": 0.3, "enterprise": 1.5}


def synthetic(n: int = 600, seed: int = 7) -> tuple[list[LeadFacts], list[bool]]:
    rng = random.Random(seed)
    leads: list[LeadFacts] = []
    won: list[bool] = []
    for i in range(n):
        plan = rng.choice(list(PLANS))
        seats = rng.randint(1, 200)
        newsletter = rng.choice(["Yes", "No"])
        logit = PLANS[plan] + 0.015 * seats - 1.5 + (0.5 if newsletter == "Yes" else 0.0)
        outcome = rng.random() < 1 / (1 + math.exp(-logit))
        values: dict[str, object] = {
            "attributes.plan": plan,
            "attributes.seats": str(seats) if i % 10 else "",  # some missing, as text like a CSV's
            "attributes.newsletter": newsletter,
            "attributes.country": rng.choice(["ES", "FR", "DE"]) if i % 50 else f"rare-{i}",
            "attributes.sales_verdict": "hot" if outcome else "cold",
            "industry": rng.choice(["retail", "software", ""]),
        }
        visits = rng.randint(0, 3) + (2 if outcome else 0)
        leads.append(LeadFacts(values, {"page_view": [visits, visits, visits, visits + 1]}, fit_score=seats // 20))
        won.append(outcome)
    return leads, won
