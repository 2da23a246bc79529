"""The daily caps a batch's claim counts (services/dispatch/quota.py), on the two statements of
the outbox it uses, kept in a dict: each resident gets what is left of their cap for the day,
and what a batch wanted beyond it is given back, so the next batch finds the count at the cap."""
from dealsvc.services.dispatch.quota import reserve


class Counts:
    """The push_quota table's counts by (resident, day): what count_up and count_down change."""

    def __init__(self, counts=None):
        self.counts = dict(counts or {})

    def count_up(self, wanted):
        for key, want in wanted.items():
            self.counts[key] = self.counts.get(key, 0) + want
        return {key: self.counts[key] for key in wanted}

    def count_down(self, excess):
        for key, n in excess.items():
            self.counts[key] -= n


def test_each_resident_gets_what_is_left_of_their_cap_and_the_excess_is_given_back():
    table = Counts({(1, "2026-12-06"): 2, (2, "2026-12-06"): 5})
    allowed = reserve(table, {
        (1, "2026-12-06"): (3, 3),  # two sent today, cap 3: one more
        (2, "2026-12-06"): (1, 3),  # over the cap already (the operator lowered it): none
        (3, "2026-12-06"): (2, 5),  # nothing sent yet: both
    })
    assert allowed == {(1, "2026-12-06"): 1, (2, "2026-12-06"): 0, (3, "2026-12-06"): 2}
    # The counts are what was admitted: the next batch starts from the cap, not past it.
    assert table.counts == {(1, "2026-12-06"): 3, (2, "2026-12-06"): 5, (3, "2026-12-06"): 2}


def test_a_new_local_day_counts_from_zero():
    table = Counts({(1, "2026-12-06"): 3})
    assert reserve(table, {(1, "2026-12-07"): (2, 3)}) == {(1, "2026-12-07"): 2}
    assert table.counts[(1, "2026-12-06")] == 3
