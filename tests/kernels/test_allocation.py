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
    return SupplyNetwork(
        kind=kind,
        priority=np.array(priority),
        can_exit=np.array(can_exit if can_exit is not None else [k in (SOURCE, ENV) for k in kind]),
        throughput=np.array(throughput if throughput is not None else [INF] * kind.size),
        link_from=f.astype(np.int64),
        link_to=t.astype(np.int64),
        capacity=c.astype(float),
        loss=lo.astype(float),
        cost=co.astype(float),
        licensed=li.astype(bool),
    )


def _solve(a, n, *, inflow=None, demand=None, storage=None, lower=None, upper=None, licence=None):
    z = np.zeros(n)
    st = z if storage is None else np.asarray(storage, float)
    return a.solve(
        z if inflow is None else np.asarray(inflow, float),
        np.asarray(demand, float),
        st,
        z if lower is None else np.asarray(lower, float),
        st if upper is None else np.asarray(upper, float),
        np.full(n, INF) if licence is None else np.asarray(licence, float),
    )


# reservoir 0 -> env flow 1 (river), -> town 2 (priority 1, 10 % loss), -> farm 3 and mill 4 (priority 2)
HAND = _net(
    [STORAGE, ENV, DEMAND, DEMAND, DEMAND],
    [0, 0, 1, 2, 2],
    [
        (0, 1, INF, 0.0, 0.0, False),
        (0, 2, 10.0, 0.1, 1.0, False),
        (0, 3, 3.0, 0.0, 1.0, False),
        (0, 4, INF, 0.0, 1.0, False),
    ],
)
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
        r = _solve(
            a,
            5,
            inflow=[q, 0, 0, 0, 0],
            demand=HAND_DEMAND,
            storage=[avail, 0, 0, 0, 0],
            lower=[min(2.0, avail), 0, 0, 0, 0],
            upper=[min(avail, 20.0), 0, 0, 0, 0],
        )
        np.testing.assert_allclose(r.delivered[1:], deliv, rtol=0, atol=TOL)
        assert r.storage[0] == pytest.approx(store, abs=TOL)
        err, through = balance_error(HAND, np.array([q, 0, 0, 0, 0.0]), before, np.zeros(5), r, 1.0)
        assert err <= 1e-9 * through
        s = r.storage[0]


def test_lower_priority_cut_first_and_equal_percentage_within():
    """Two sources of 6 and a shared pipe: priority 1 gets all it can, priority 2 shares the rest equally."""
    # source 0 -> works 1 (capacity 8) -> demands 2 (p1, 4), 3 (p2, 6), 4 (p2, 2)
    net = _net(
        [SOURCE, WORKS, DEMAND, DEMAND, DEMAND],
        [0, 0, 1, 2, 2],
        [
            (0, 1, INF, 0.0, 1.0, True),
            (1, 2, INF, 0.0, 1.0, False),
            (1, 3, INF, 0.0, 1.0, False),
            (1, 4, INF, 0.0, 1.0, False),
        ],
        throughput=[INF, 8.0, INF, INF, INF],
    )
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
    net = _net([SOURCE, DEMAND, DEMAND], [0, 1, 1], [(0, 1, INF, 0.0, 1.0, False), (0, 2, 1.0, 0.0, 1.0, False)])
    r = _solve(Allocator(net, 1.0), 3, inflow=[6, 0, 0], demand=[0, 6, 4])
    # the common fraction is 1/4 (b's pipe); with it held, a takes the other 5
    np.testing.assert_allclose(r.delivered[1:], [5, 1], atol=TOL)


def test_environmental_flow_passes_on_and_binds():
    """River: source 0 -> env 1 -> abstraction downstream 2 -> demand 3; env flow 3 has priority over the demand."""
    net = _net(
        [SOURCE, ENV, SOURCE, DEMAND],
        [0, 0, 0, 1],
        [(0, 1, INF, 0.0, 0.0, False), (1, 2, INF, 0.0, 0.0, False), (2, 3, INF, 0.0, 1.0, True)],
        can_exit=[False, False, True, False],
    )
    a = Allocator(net, 1.0)
    # upstream abstraction would break the env flow: env needs 3 through node 1
    net2 = _net(
        [SOURCE, ENV, DEMAND],
        [0, 0, 1],
        [(0, 1, INF, 0.0, 0.0, False), (0, 2, INF, 0.0, 1.0, True)],
        can_exit=[False, True, False],
    )
    r = _solve(Allocator(net2, 1.0), 3, inflow=[5, 0, 0], demand=[0, 3, 4])
    np.testing.assert_allclose([r.delivered[1], r.delivered[2]], [3, 2], atol=TOL)
    # downstream of the env point the same water serves both
    r = _solve(a, 4, inflow=[5, 0, 0, 0], demand=[0, 3, 0, 4])
    np.testing.assert_allclose([r.delivered[1], r.delivered[3]], [3, 4], atol=TOL)
    assert r.exit[2] == pytest.approx(1, abs=TOL)


def test_costs_choose_the_source_and_storage_is_kept():
    """A demand served from a river or a reservoir takes the river first; the reservoir keeps its water."""
    # reservoir 0 and river source 1 both feed demand 2
    net = _net(
        [STORAGE, SOURCE, DEMAND],
        [0, 0, 1],
        [(0, 2, INF, 0.0, 1.0, False), (1, 2, INF, 0.0, 1.0, False)],
        can_exit=[True, True, False],
    )
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


def _random_net(rng):
    """Sources and a reservoir feed works, works feed demands of three priorities; lossy capped pipes."""
    kind = [SOURCE] * 3 + [STORAGE] + [WORKS] * 3 + [DEMAND] * 8
    n = len(kind)
    links = []
    for w in (4, 5, 6):
        for s in rng.choice(4, 2, replace=False):
            links.append((int(s), w, rng.uniform(1, 4), 0.05, rng.uniform(1, 2), s < 3))
    for d in range(7, n):
        for w in rng.choice([4, 5, 6], 2, replace=False):
            links.append((int(w), d, rng.uniform(0.5, 2), rng.uniform(0, 0.2), rng.uniform(1, 2), False))
    prio = [0] * 7 + list(rng.integers(1, 4, 8))
    return _net(
        kind, prio, links, can_exit=[True] * 4 + [False] * (n - 4), throughput=[INF] * 4 + [4.0] * 3 + [INF] * 8
    )


def _reference(net, q, need, store, lower, upper, licence):
    """Lexicographic allocation written out with scipy's linprog on a dense matrix: per level, the
    max-min fraction, then the maximum total with it held (which may be less than the level's
    unconstrained maximum); returns each level's total and fraction."""
    from scipy.optimize import linprog

    n, m = net.kind.size, net.link_from.size
    dem = np.flatnonzero(net.kind == DEMAND)
    sto = np.flatnonzero(net.kind == STORAGE)
    ext = np.flatnonzero(net.can_exit)
    nv = m + dem.size + sto.size + ext.size + 1  # x, y, s, e, f
    iy, i_s, ie, jf = m, m + dem.size, m + dem.size + sto.size, nv - 1
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    for i in range(n):
        row = np.zeros(nv)
        row[:m] += np.where(net.link_to == i, 1 - net.loss, 0) - (net.link_from == i)
        rhs = -q[i]
        if i in dem:
            row[iy + list(dem).index(i)] = -1
        if i in sto:
            row[i_s + list(sto).index(i)] = -1
            rhs = -store[i]
        if i in ext:
            row[ie + list(ext).index(i)] = -1
        a_eq.append(row)
        b_eq.append(rhs)
    for i in np.flatnonzero(np.isfinite(net.throughput)):
        a_ub.append(np.r_[(net.link_from == i).astype(float), np.zeros(nv - m)])
        b_ub.append(net.throughput[i])
    for i in range(n):
        if np.isfinite(licence[i]) and np.any((net.link_from == i) & net.licensed):
            a_ub.append(np.r_[((net.link_from == i) & net.licensed).astype(float), np.zeros(nv - m)])
            b_ub.append(licence[i])
    bounds = (
        [(0, c) for c in net.capacity]
        + [(0, need[d]) for d in dem]
        + [(lower[s], upper[s]) for s in sto]
        + [(0, None)] * ext.size
        + [(0, 0)]
    )
    out = {}
    prio = net.priority[dem]
    for p in np.unique(prio):
        k = np.flatnonzero(prio == p)
        c = np.zeros(nv)
        c[iy + k] = -1
        frac_rows = []
        for j in k:
            row = np.zeros(nv)
            row[iy + j], row[jf] = -1, need[dem[j]]
            frac_rows.append(row)
        bf = list(bounds)
        bf[jf] = (0, 1)
        cf = np.zeros(nv)
        cf[jf] = -1
        res = linprog(
            cf,
            A_ub=np.array(a_ub + frac_rows),
            b_ub=b_ub + [0] * k.size,
            A_eq=np.array(a_eq),
            b_eq=b_eq,
            bounds=bf,
            method="highs",
        )
        f = res.x[jf]
        bf[jf] = (f - 1e-9, f)
        res = linprog(
            c,
            A_ub=np.array(a_ub + frac_rows),
            b_ub=b_ub + [0] * k.size,
            A_eq=np.array(a_eq),
            b_eq=b_eq,
            bounds=bf,
            method="highs",
        )
        y = res.x[iy + k]
        total = y.sum()
        for j, v in zip(k, y):
            bounds[iy + j] = (max(v - 1e-9, 0), v)
        out[int(p)] = (total, f if need[dem[k]].sum() > 0 else 1.0)
    return out


def test_random_networks_match_a_dense_lexicographic_reference():
    """Each level's total and common fraction equal those of an independent dense formulation."""
    rng = np.random.default_rng(11)
    for _ in range(4):
        net = _random_net(rng)
        a = Allocator(net, 1.0)
        n = net.kind.size
        dem = np.flatnonzero(net.kind == DEMAND)
        for _ in range(15):
            q = np.zeros(n)
            q[:3] = rng.uniform(0, 4, 3)
            need = np.zeros(n)
            need[dem] = rng.uniform(0.05, 1.5, dem.size)
            store = np.zeros(n)
            store[3] = rng.uniform(0, 6)
            lower = np.zeros(n)
            lower[3] = 0.5 * store[3]
            licence = np.full(n, INF)
            licence[:3] = rng.uniform(0.5, 3, 3)
            r = a.solve(q, need, store, lower, store, licence)
            ref = _reference(net, q, need, store, lower, store, licence)
            prio = net.priority[dem]
            for p, (total, f) in ref.items():
                k = dem[prio == p]
                # both hold settled levels with 1e-9 slacks, chained through up to three levels and
                # amplified by losses (< 25 %) and divided by needs >= 0.05: 1e-7 on totals, 1e-6 on fractions
                assert r.delivered[k].sum() == pytest.approx(total, abs=1e-7)
                got_f = np.min(r.delivered[k] / need[k])
                assert got_f == pytest.approx(f, abs=1e-6)
            err, through = balance_error(net, q, store, np.zeros(n), r, 1.0)
            assert err <= 1e-9 * max(through, 1.0)
