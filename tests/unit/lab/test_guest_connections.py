"""The guest simulator's connections (lab/labctl/guests.py Connections): what a BIG-IP member holds
while it serves, and a real drain when it is disabled - open connections end on their own time."""

from labctl.guests import Connections


def test_a_serving_member_keeps_its_target_and_replaces_what_ends():
    pool = Connections(4.0)
    assert pool.step(0.0, 10, serving=True) == 10
    ends = sorted(pool.ends)
    assert 2.0 <= ends[0] and ends[-1] <= 6.0 and len(set(ends)) == 10  # spread over 0.5-1.5 x lifetime
    for now in range(1, 30):
        assert pool.step(float(now), 10, serving=True) == 10
    assert pool.step(30.0, 4, serving=True) <= 10  # less load: the extra connections end on their own


def test_a_disabled_member_gets_nothing_new_and_drains_as_its_connections_end():
    pool = Connections(4.0)
    pool.step(0.0, 10, serving=True)
    last_end = max(pool.ends)
    counts = [pool.step(t / 2, 10, serving=False) for t in range(1, 14)]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    assert pool.step(last_end, 10, serving=False) == 0


def test_held_sessions_stay_open_whatever_the_member_state():
    pool = Connections(4.0)
    pool.step(0.0, 2, serving=True)
    pool.hold(0.0, 3, 100.0)
    assert pool.step(50.0, 2, serving=False) == 3
    assert pool.step(100.0, 2, serving=False) == 0
    pool.hold(100.0, 5, 10.0)
    pool.drop()  # powered off
    assert pool.count == 0


def test_released_sessions_end_at_once_and_the_others_stay():
    pool = Connections(100.0)
    pool.step(0.0, 2, serving=True)
    pool.hold(0.0, 3, 600.0)
    assert pool.step(1.0, 2, serving=True) == 5
    assert pool.release() == 3 and pool.release() == 0
    assert pool.step(2.0, 2, serving=True) == 2  # the load's own connections, not the held ones
