"""Allocation by priority on small networks whose answers are computed by hand (kernels.allocation).

Tolerances: HiGHS runs with primal/dual feasibility 1e-9 and the answers are LP vertices, so hand
values match to ~1e-12 on these O(1-10) numbers; 1e-9 leaves room for round-off in the ratios.
"""

import numpy as np
import pytest

from kernels.allocation import (
    DEMAND,
    ENV,
    SOURCE,
    STORAGE,
    WORKS,
    Allocator,
    SupplyNetwork,
    balance_error,
)

INF = np.inf
TOL = 1e-9


def _net(kind, priority, links, *, can_exit=None, throughput=None):
    """links: (from, to, capacity, loss, cost, licensed)."""
    kind = np.array(kind)
    f, t, c, lo, co, li = (np.array(v) for v in zip(*links))
    return SupplyNetwork(kind=kind, priority=np.array(priority),
                         can_exit=np.array(can_exit if can_exit is not None else [k in (SOURCE, ENV) for k in kind]),
                         throughput=np.array(throughput if throughput is not None else [INF] * kind.size),
                         link_from=f.astype(np.int64), link_to=t.astype(np.int64), capacity=c.astype(float),
                         loss=lo.astype(float), cost=co.astype(float), licensed=li.astype(bool))


def _solve(a, n, *, inflow=None, demand=None, storage=None, lower=None, upper=None, licence=None):
    z = np.zeros(n)
    st = z if storage is None else np.asarray(storage, float)
    return a.solve(z if inflow is None else np.asarray(inflow, float), np.asarray(demand, float), st,
                   z if lower is None else np.asarray(lower, float), st if upper is None else np.asarray(upper, float),
                   np.full(n, INF) if licence is None else np.asarray(licence, float))


# reservoir 0 -> env flow 1 (river), -> town 2 (priority 1, 10 % loss), -> farm 3 and mill 4 (priority 2)
HAND = _net([STORAGE, ENV, DEMAND, DEMAND, DEMAND], [0, 0, 1, 2, 2],
            [(0, 1, INF, 0.0, 0.0, False), (0, 2, 10.0, 0.1, 1.0, False), (0, 3, 3.0, 0.0, 1.0, False),
             (0, 4, INF, 0.0, 1.0, False)])
HAND_DEMAND = [0.0, 2.0, 5.0, 4.0, 2.0]


def test_hand_network_trajectory_and_balance():
    """dt = 1 s so volumes equal rates; inactive storage 2, capacity 20, start 10."""
    a = Allocator(HAND, 1.0)
    s = 10.0
    expected = []
    # step 1: 13 there, 11 releasable: env 2, town 5/0.9, the 31/9 left shared by farm and mill at
    # f = (31/9)/6 of their demands (farm's 4 f = 2.296 fits its 3 m3/s link)
    f1 = (11 - 2 - 5 / 0.9) / 6
    expected.append(([2, 5, 4 * f1, 2 * f1], 2.0))
    # steps 2-3: nothing above the inactive storage, nothing delivered
    expected += [([0, 0, 0, 0], 2.0)] * 2
    # step 4: 12 there, 10 releasable
    f4 = (10 - 2 - 5 / 0.9) / 6
    expected.append(([2, 5, 4 * f4, 2 * f4], 2.0))
    # step 5: 32 there; all demands met (farm capped by its link at 3): release 2 + 5/0.9 + 3 + 2
    expected.append(([2, 5, 3, 2], 32 - (7 + 5 / 0.9)))
    for q, (deliv, store) in zip([3, 0, 0, 10, 30], expected):
        before = np.array([s, 0, 0, 0, 0.0])
        avail = s + q
        r = _solve(a, 5, inflow=[q, 0, 0, 0, 0], demand=HAND_DEMAND, storage=[avail, 0, 0, 0, 0],
                   lower=[min(2.0, avail), 0, 0, 0, 0], upper=[min(avail, 20.0), 0, 0, 0, 0])
        np.testing.assert_allclose(r.delivered[1:], deliv, rtol=0, atol=TOL)
        assert r.storage[0] == pytest.approx(store, abs=TOL)
        err, through = balance_error(HAND, np.array([q, 0, 0, 0, 0.0]), before, np.zeros(5), r, 1.0)
        assert err <= 1e-9 * through
        s = r.storage[0]


def test_lower_priority_cut_first_and_equal_percentage_within():
    """Two sources of 6 and a shared pipe: priority 1 gets all it can, priority 2 shares the rest equally."""
    # source 0 -> works 1 (capacity 8) -> demands 2 (p1, 4), 3 (p2, 6), 4 (p2, 2)
    net = _net([SOURCE, WORKS, DEMAND, DEMAND, DEMAND], [0, 0, 1, 2, 2],
               [(0, 1, INF, 0.0, 1.0, True), (1, 2, INF, 0.0, 1.0, False), (1, 3, INF, 0.0, 1.0, False),
                (1, 4, INF, 0.0, 1.0, False)], throughput=[INF, 8.0, INF, INF, INF])
    a = Allocator(net, 1.0)
    r = _solve(a, 5, inflow=[20, 0, 0, 0, 0], demand=[0, 0, 4, 6, 2])
    # works limits to 8: p1 gets 4, p2 shares 4 over 8 demanded: 50 % each
    np.testing.assert_allclose(r.delivered[2:], [4, 3, 1], atol=TOL)
    assert r.exit[0] == pytest.approx(12, abs=TOL)  # the rest flows on past the abstraction point
    # licence of 5 on the abstraction: p1 4, p2 share 1 -> 1/8 each
    r = _solve(a, 5, inflow=[20, 0, 0, 0, 0], demand=[0, 0, 4, 6, 2], licence=[5, INF, INF, INF, INF])
    np.testing.assert_allclose(r.delivered[2:], [4, 0.75, 0.25], atol=TOL)
    # too little even for priority 1: it takes everything, priority 2 gets nothing
    r = _solve(a, 5, inflow=[3, 0, 0, 0, 0], demand=[0, 0, 4, 6, 2])
    np.testing.assert_allclose(r.delivered[2:], [3, 0, 0], atol=TOL)


def test_equal_percentage_then_maximum_total():
    """A demand reachable only through a narrow pipe caps the common fraction; the others then take more."""
    # source 0 -> a (p1, 6) direct; -> b (p1, 4) through a 1 m3/s pipe; source has 6
    net = _net([SOURCE, DEMAND, DEMAND], [0, 1, 1],
               [(0, 1, INF, 0.0, 1.0, False), (0, 2, 1.0, 0.0, 1.0, False)])
    r = _solve(Allocator(net, 1.0), 3, inflow=[6, 0, 0], demand=[0, 6, 4])
    # the common fraction is 1/4 (b's pipe); with it held, a takes the other 5
    np.testing.assert_allclose(r.delivered[1:], [5, 1], atol=TOL)


def test_environmental_flow_passes_on_and_binds():
    """River: source 0 -> env 1 -> abstraction downstream 2 -> demand 3; env flow 3 has priority over the demand."""
    net = _net([SOURCE, ENV, SOURCE, DEMAND], [0, 0, 0, 1],
               [(0, 1, INF, 0.0, 0.0, False), (1, 2, INF, 0.0, 0.0, False), (2, 3, INF, 0.0, 1.0, True)],
               can_exit=[False, False, True, False])
    a = Allocator(net, 1.0)
    # upstream abstraction would break the env flow: env needs 3 through node 1
    net2 = _net([SOURCE, ENV, DEMAND], [0, 0, 1],
                [(0, 1, INF, 0.0, 0.0, False), (0, 2, INF, 0.0, 1.0, True)], can_exit=[False, True, False])
    r = _solve(Allocator(net2, 1.0), 3, inflow=[5, 0, 0], demand=[0, 3, 4])
    np.testing.assert_allclose([r.delivered[1], r.delivered[2]], [3, 2], atol=TOL)
    # downstream of the env point the same water serves both
    r = _solve(a, 4, inflow=[5, 0, 0, 0], demand=[0, 3, 0, 4])
    np.testing.assert_allclose([r.delivered[1], r.delivered[3]], [3, 4], atol=TOL)
    assert r.exit[2] == pytest.approx(1, abs=TOL)


def test_costs_choose_the_source_and_storage_is_kept():
    """A demand served from a river or a reservoir takes the river first; the reservoir keeps its water."""
    # reservoir 0 and river source 1 both feed demand 2
    net = _net([STORAGE, SOURCE, DEMAND], [0, 0, 1],
               [(0, 2, INF, 0.0, 1.0, False), (1, 2, INF, 0.0, 1.0, False)], can_exit=[True, True, False])
    r = _solve(Allocator(net, 1.0), 3, inflow=[0, 3, 0], demand=[0, 0, 5], storage=[100, 0, 0])
    np.testing.assert_allclose(r.flow, [2, 3], atol=TOL)
    assert r.storage[0] == pytest.approx(98, abs=TOL)
    assert r.exit[0] == pytest.approx(0, abs=TOL)


def test_losses_and_capacity_binding_with_balance():
    """Delivery through a lossy link is (1 - loss) of its flow; a capacity binds on the flow entering it."""
    net = _net([SOURCE, DEMAND], [0, 1], [(0, 1, 4.0, 0.25, 1.0, False)])
    r = _solve(Allocator(net, 1.0), 2, inflow=[10, 0], demand=[0, 5])
    assert r.flow[0] == pytest.approx(4, abs=TOL) and r.delivered[1] == pytest.approx(3, abs=TOL)
    err, through = balance_error(net, np.array([10.0, 0]), np.zeros(2), np.zeros(2), r, 1.0)
    assert err <= 1e-9 * through
