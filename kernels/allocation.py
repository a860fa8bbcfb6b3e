"""Water allocation on a supply network, one time step at a time, by priority (lexicographic LPs).

The network is plain arrays (:class:`SupplyNetwork`): nodes of five kinds and directed links with a
capacity [m3/s], a loss fraction (a link carrying ``x`` delivers ``(1 - loss) x``), a cost and a flag
saying whether the flow counts against the upstream node's licence. All flows are step means in m3/s;
storages are in m3 and enter the LP as ``storage / dt`` so that every row is in m3/s.

Each step is solved as a sequence of linear programs with HiGHS (``highspy``). Each kind of LP
(a level's total, a level's common fraction) has a HiGHS model of its own, built on first use,
whose objective never changes: from one step to the next only bounds (and the demands in the
fraction rows) change, so its last optimal basis stays dual feasible and the dual simplex restarts
from it (about 35 pivots for a step's first LP on the 500-node benchmark, against 80-400 when one
model took every objective in turn):

For each priority level ``p`` in increasing order (lower number first, as in WEAP and pywr), with
the levels before it fixed at what they got, the level's total is maximised (weight 1; later
levels are open with weights falling from ``_NEXT`` to ``_LATER``, so one LP also tells whether
they can all be met, and a later level that the water cannot all reach is already at its own
maximum in that LP, which saves its own). If level ``p`` is short and holds more than one demand,
the common fraction ``f`` that every level-``p`` demand receives (``y_d >= f D_d``) is maximised,
then, with ``f`` held (as lower bounds on the deliveries, in the level's own model), the level's
total again (equal-percentage sharing, then no water left unused that another level-``p`` demand
could take), and the level's deliveries are fixed. LPs are skipped where an earlier solution
already answers: a level met in full is fixed at its demand; once every remaining level is met the
step is done; a short level of several demands goes straight to its fraction (a fraction of 1 says
it is met after all). So a step where everything is met costs one LP, and each short level two
more (2.05 LPs a step on the 30-year 500-node benchmark).

"Exact" means: the deliveries are lexicographically optimal (level by level, max-min fraction
then max total) to the solver's tolerances (HiGHS primal/dual feasibility 1e-9 here, see
``_OPTIONS``), which is far below a litre per second for any real network.

Ties between equally good allocations are broken by small secondary terms in every objective:
each link costs ``_COST * cost / max(cost)`` per m3/s and each m3/s of storage kept is worth
``_STORE``. The weights are separated so that nothing is ever traded against a higher term: a unit
delivered to the current level gains 1, to a later level at most ``_NEXT`` = 0.05 and at least
``_LATER`` = 1e-2, and routing it costs at most ``_STORE + n_links * _COST`` times the loss
amplification along its path, and a unit taken from a level already settled costs ``_SETTLED`` = 4 (this holds for paths losing less than
75 % and shorter than ~100 links); among allocations that deliver the same, the one that keeps
water in storage and uses cheaper links wins.

Environmental flows are ``ENV`` nodes: a minimum flow through a river point. Their "delivery" is
the flow through the node counted up to the requirement; the water itself continues downstream.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "DEMAND",
    "ENV",
    "SOURCE",
    "STORAGE",
    "WORKS",
    "Allocation",
    "Allocator",
    "SupplyNetwork",
    "balance_error",
]

SOURCE, STORAGE, WORKS, DEMAND, ENV = 0, 1, 2, 3, 4

_NEXT = 5e-2
_LATER = 1e-2
_SETTLED = 4.0
_SLACK = 1e-9
_COST = 1e-5
_STORE = 1e-3
_OPTIONS = {
    "output_flag": False,
    "primal_feasibility_tolerance": 1e-9,
    "dual_feasibility_tolerance": 1e-9,
    "presolve": "off",
    "solver": "simplex",
    "simplex_strategy": 1,
    # devex pricing: about as many iterations as steepest edge here, and a cheaper restart
    "simplex_dual_edge_weight_strategy": 1,
}


class SupplyNetwork(NamedTuple):
    """A supply network as arrays.

    Attributes
    ----------
    kind : int array (n,)
        Node kind: ``SOURCE`` (river abstraction point, junction), ``STORAGE`` (reservoir,
        groundwater), ``WORKS`` (treatment works), ``DEMAND`` (consumptive demand) or ``ENV``
        (minimum flow through a river point).
    priority : int array (n,)
        Priority of ``DEMAND`` and ``ENV`` nodes (lower first); ignored for others.
    can_exit : bool array (n,)
        Whether water may leave the system at the node (a river flowing on past the model).
        ``DEMAND`` nodes never have it (their inflow is the delivery).
    throughput : float array (n,)
        Capacity of a ``WORKS`` node's total outflow [m3/s] (``inf``: none).
    link_from, link_to : int arrays (m,)
        End nodes of each link.
    capacity, loss, cost : float arrays (m,)
        Link capacity [m3/s] (``inf``: none), loss fraction in [0, 1) and cost (>= 0).
    licensed : bool array (m,)
        Whether the link's flow counts against the licence of its upstream node.
    return_to : int array (n,), optional
        For ``DEMAND`` nodes: the node (not a demand) that receives their return flow (treated
        wastewater, drainage) in the same step; -1 for none.
    return_fraction : float array (n,), optional
        Fraction in [0, 1) of each ``DEMAND`` node's delivery that returns to ``return_to``; the rest
        is consumed.
    """

    kind: np.ndarray
    priority: np.ndarray
    can_exit: np.ndarray
    throughput: np.ndarray
    link_from: np.ndarray
    link_to: np.ndarray
    capacity: np.ndarray
    loss: np.ndarray
    cost: np.ndarray
    licensed: np.ndarray
    return_to: np.ndarray | None = None
    return_fraction: np.ndarray | None = None

    def returns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The return flows as ``(demand nodes, receiving nodes, fractions)``, checked."""
        if self.return_to is None or self.return_fraction is None:
            return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
        to = np.asarray(self.return_to, np.int64)
        frac = np.asarray(self.return_fraction, float)
        src = np.flatnonzero((to >= 0) & (frac > 0))
        kind = np.asarray(self.kind)
        if np.any(kind[src] != DEMAND) or np.any(kind[to[src]] == DEMAND) or np.any(frac[src] >= 1):
            raise ValueError(
                "return flows leave DEMAND nodes with a fraction in [0, 1) and reach a node that is not a demand"
            )
        return src, to[src], frac[src]


class Allocation(NamedTuple):
    """One step's answer (rates in m3/s, storage in m3)."""

    flow: np.ndarray  # (m,) flow entering each link
    delivered: np.ndarray  # (n,) delivery to DEMAND / ENV nodes (0 elsewhere)
    storage: np.ndarray  # (n,) end-of-step storage of STORAGE nodes (0 elsewhere)
    exit: np.ndarray  # (n,) water leaving the system at each node
    n_lp: int  # linear programs solved


class Allocator:
    """A HiGHS model of one network, re-solved each step with new inflows, demands and bounds.

    Parameters
    ----------
    net : SupplyNetwork
    dt : float
        Step length [s] (storages are divided by it).
    """

    def __init__(self, net: SupplyNetwork, dt: float) -> None:
        import highspy

        self.net = net
        self.dt = float(dt)
        n, m = net.kind.size, net.link_from.size
        kind = np.asarray(net.kind)
        self._dem = np.flatnonzero((kind == DEMAND) | (kind == ENV))
        self._sto = np.flatnonzero(kind == STORAGE)
        self._ext = np.flatnonzero(np.asarray(net.can_exit) & (kind != DEMAND))
        self._bal = np.flatnonzero(kind != DEMAND)
        env = np.flatnonzero(kind == ENV)
        works = np.flatnonzero((kind == WORKS) & np.isfinite(net.throughput))
        lic_nodes = np.unique(net.link_from[np.asarray(net.licensed, bool)])
        self._lic_nodes = lic_nodes
        nd, ns, ne = self._dem.size, self._sto.size, self._ext.size
        # columns: link flows | deliveries | storage/dt | exits | common fraction
        self._cy, self._cs, self._ce, self._cf = m, m + nd, m + nd + ns, m + nd + ns + ne
        ncol = self._cf + 1
        rows: list[list[tuple[int, float]]] = []
        gain = 1.0 - np.asarray(net.loss, float)

        def links_out(i):
            return [(int(l), -1.0) for l in np.flatnonzero(net.link_from == i)]

        pos_d = {int(i): k for k, i in enumerate(self._dem)}
        pos_s = {int(i): k for k, i in enumerate(self._sto)}
        pos_e = {int(i): k for k, i in enumerate(self._ext)}
        # a return flow enters its node like a link whose flow is the fraction of the delivery
        returns_in: dict[int, list[tuple[int, float]]] = {}
        for d, j, r in zip(*net.returns()):
            returns_in.setdefault(int(j), []).append((self._cy + pos_d[int(d)], float(r)))

        def links_in(i):
            return [(int(l), float(gain[l])) for l in np.flatnonzero(net.link_to == i)] + returns_in.get(i, [])

        self._row_bal = np.empty(n, dtype=np.int64)
        for i in range(n):  # node balance: in - out - exit (- storage/dt) = -(inflow or storage/dt)
            self._row_bal[i] = len(rows)
            entries = links_in(i) + links_out(i)
            if kind[i] == DEMAND:
                entries.append((self._cy + pos_d[i], -1.0))
            if i in pos_s:
                entries.append((self._cs + pos_s[i], -1.0))
            if i in pos_e:
                entries.append((self._ce + pos_e[i], -1.0))
            rows.append(entries)
        self._row_env = len(rows)  # ENV credit: delivery - inflow through the node <= external inflow
        for i in env:
            rows.append([(self._cy + pos_d[int(i)], 1.0)] + [(l, -g) for l, g in links_in(int(i))])
        self._row_works = len(rows)
        for i in works:
            rows.append([(l, 1.0) for l, _ in links_out(int(i))])
        self._row_lic = len(rows)
        for i in lic_nodes:
            rows.append([(int(l), 1.0) for l in np.flatnonzero((net.link_from == i) & net.licensed)])
        nrow = len(rows)

        inf = highspy.kHighsInf
        self._inf = inf
        col_lo = np.zeros(ncol)
        col_hi = np.full(ncol, inf)
        col_hi[:m] = np.where(np.isfinite(net.capacity), net.capacity, inf)
        col_hi[self._cf] = 0.0
        row_lo = np.full(nrow, -inf)
        row_hi = np.full(nrow, inf)
        row_lo[:n] = row_hi[:n] = 0.0
        row_hi[self._row_works : self._row_lic] = np.asarray(net.throughput)[works]
        # sparse matrix, column-wise
        cols: list[list[tuple[int, float]]] = [[] for _ in range(ncol)]
        for r, entries in enumerate(rows):
            for c, v in entries:
                cols[c].append((r, v))
        start, index, value = [0], [], []
        for c in cols:
            for r, v in sorted(c):
                index.append(r)
                value.append(v)
            start.append(len(index))

        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = ncol, nrow
        lp.col_cost_ = np.zeros(ncol)
        lp.col_lower_, lp.col_upper_ = col_lo, col_hi
        lp.row_lower_, lp.row_upper_ = row_lo, row_hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.asarray(start, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(value, dtype=np.float64)
        lp.sense_ = highspy.ObjSense.kMaximize
        self._lp = lp
        self._models: dict[tuple[str, int], _Model] = {}
        self._highspy = highspy
        self._ncol, self._nrow = ncol, nrow
        # the bounds every model is given before it solves (its own copy of them may be stale)
        self._row_lo, self._row_hi = row_lo.copy(), row_hi.copy()
        self._col_lo, self._col_hi = col_lo.copy(), col_hi.copy()
        cost = np.asarray(net.cost, float)
        self._base_cost = np.zeros(ncol)
        self._base_cost[:m] = -_COST * (cost / cost.max() if cost.size and cost.max() > 0 else cost)
        self._base_cost[self._cs : self._ce] = _STORE
        self._all_cols = np.arange(ncol, dtype=np.int32)
        self._all_rows = np.arange(nrow, dtype=np.int32)
        self._y_cols = (self._cy + np.arange(nd)).astype(np.int32)
        # columns whose bounds change between solves: deliveries, storages and the common fraction
        self._var_cols = np.r_[self._y_cols, self._cs + np.arange(ns), self._cf].astype(np.int32)
        prio = np.asarray(net.priority)[self._dem]
        self._levels = [np.flatnonzero(prio == p) for p in np.unique(prio)]
        self._bal_rows = self._row_bal[self._bal].astype(np.int32)
        self._env_rows = (self._row_env + np.arange(env.size)).astype(np.int32)
        self._env_k = np.array([pos_d[int(i)] for i in env], dtype=np.int64)
        self._lic_rows = (self._row_lic + np.arange(lic_nodes.size)).astype(np.int32)
        self._sto_cols = (self._cs + np.arange(ns)).astype(np.int32)

    @property
    def demand_nodes(self) -> np.ndarray:
        """Indices of the DEMAND and ENV nodes, in the order of the delivery columns."""
        return self._dem

    def solve(
        self,
        inflow: np.ndarray,
        demand: np.ndarray,
        storage: np.ndarray,
        storage_lower: np.ndarray,
        storage_upper: np.ndarray,
        licence: np.ndarray,
    ) -> Allocation:
        """Allocate one step.

        Parameters
        ----------
        inflow : float array (n,)
            External inflow to each node [m3/s] (river flow at a SOURCE or ENV node; ignored at
            STORAGE nodes, whose inflow is already in ``storage``).
        demand : float array (n,)
            Demand of DEMAND nodes and requirement of ENV nodes [m3/s].
        storage : float array (n,)
            Water available in each STORAGE node this step before any release [m3] (start storage
            plus inflow minus evaporation).
        storage_lower, storage_upper : float arrays (n,)
            Bounds of the end-of-step storage [m3] (what may not be released; what must go).
        licence : float array (n,)
            Most a node may send through its licensed links this step [m3/s] (``inf``: none).

        Returns
        -------
        Allocation
        """
        dt, inf = self.dt, self._inf
        kind = self.net.kind
        dem_need = np.asarray(demand, float)[self._dem]
        q = np.asarray(inflow, float)
        rhs = np.zeros(kind.size)
        free = kind != STORAGE
        rhs[free] = -q[free]
        rhs[self._sto] = -np.asarray(storage, float)[self._sto] / dt
        row_lo, row_hi = self._row_lo, self._row_hi
        row_lo[self._bal_rows] = row_hi[self._bal_rows] = rhs[self._bal]
        if self._env_rows.size:
            row_hi[self._env_rows] = q[self._dem[self._env_k]]
        if self._lic_rows.size:
            lic = np.asarray(licence, float)[self._lic_nodes]
            row_hi[self._lic_rows] = np.where(np.isfinite(lic), lic, inf)
        if self._sto_cols.size:
            self._col_lo[self._sto_cols] = np.asarray(storage_lower, float)[self._sto] / dt
            self._col_hi[self._sto_cols] = np.asarray(storage_upper, float)[self._sto] / dt
        nd = self._dem.size
        lo = np.zeros(nd)
        hi = dem_need.copy()
        levels = self._levels
        k = 0
        x = self._run(("level", 0), lo, hi)
        n_lp, src = 1, 0  # src: the level whose LP produced x
        shared = -1  # the level whose fraction LP produced x
        while k < len(levels):
            full = [self._full(x, dem_need, level) for level in levels[k:]]
            if all(full):
                break
            level = levels[k]
            if full[0]:
                self._fix(level, x[self._cy : self._cy + nd], dem_need, lo, hi, full=True)
                k += 1
                continue
            if shared != k and np.count_nonzero(dem_need[level]) > 1:
                # short in x: straight to sharing, without the level's own LP first (with the later
                # levels' weights graded, a level short in an earlier LP was short in its own in every
                # case of the 30-year benchmark); if it is met after all, the fraction is 1
                x = self._share(k, dem_need, lo, hi)
                n_lp, src, shared = n_lp + 2, k, k
                continue
            # level k is short in x; x maximised its total if x came from level k's LP, or if it is the
            # last level (x maximised the weighted sum of all open levels with the earlier ones full)
            if src != k and k != len(levels) - 1:
                x = self._run(("level", k), lo, hi)
                n_lp, src = n_lp + 1, k
                continue
            self._fix(level, x[self._cy : self._cy + nd], dem_need, lo, hi, full=False)
            k += 1
        y = np.minimum(x[self._cy : self._cy + nd], dem_need)
        n = kind.size
        delivered = np.zeros(n)
        delivered[self._dem] = y
        store = np.zeros(n)
        store[self._sto] = x[self._cs : self._ce] * dt
        out = np.zeros(n)
        out[self._ext] = x[self._ce : self._cf]
        return Allocation(x[: self._cy].copy(), delivered, store, out, n_lp)

    def _full(self, x: np.ndarray, need: np.ndarray, level: np.ndarray) -> bool:
        got, want = x[self._cy + level].sum(), need[level].sum()
        return bool(got >= want - 1e-9 * max(1.0, want))

    @staticmethod
    def _fix(
        level: np.ndarray, x_y: np.ndarray, need: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, full: bool
    ) -> None:
        """Hold a settled level at what it got in later LPs.

        The values come from a solution feasible to the solver's tolerance, so they are held in
        ``[got - _SLACK * max(1, got), got]`` (``need`` above when the level is met): pinning them
        exactly can make the next LP infeasible by round-off. Settled levels weigh ``_SETTLED`` in later
        objectives, so no LP ever takes the slack back from them.
        """
        got = np.minimum(x_y[level], need[level])
        lo[level] = np.maximum(got - _SLACK * np.maximum(1.0, got), 0.0)
        hi[level] = need[level] if full else got

    def _level_cost(self, k: int) -> np.ndarray:
        """Objective of level k's LP: its deliveries weigh 1, settled ones _SETTLED, later levels from
        _NEXT (the next) down to _LATER (the last) in geometric steps, plus the tie-breakers.

        Only the order of the later weights matters, not their values: a later level found short is
        checked by its own LP. Equal weights let the LP feed a later level before an earlier one, which
        then looked short and cost an LP (3,000 of the 28,800 LPs of the 30-year benchmark).
        """
        cost = self._base_cost.copy()
        n_later = len(self._levels) - k - 1
        for j, level in enumerate(self._levels):
            if j < k:
                w = _SETTLED
            elif j == k:
                w = 1.0
            else:
                w = _NEXT * (_LATER / _NEXT) ** ((j - k - 1) / max(n_later - 1, 1))
            cost[self._y_cols[level]] = w
        return cost

    def _model(self, key: tuple[str, int]) -> _Model:
        """The HiGHS model for one kind of LP of one level (``("level", k)`` or ``("fraction", k)``),
        made on first use (see the module docstring for why each keeps its own)."""
        model = self._models.get(key)
        if model is not None:
            return model
        hs = self._highspy
        h = hs.Highs()
        for name, val in _OPTIONS.items():
            h.setOptionValue(name, val)
        h.passModel(self._lp)
        kind, k = key
        level = self._levels[k]
        share = np.zeros(0)
        if kind == "fraction":
            # rows y_d - D_d f >= 0 for the level's demands (D_d set before each solve)
            nk = level.size
            index = np.empty(2 * nk, dtype=np.int32)
            index[0::2] = self._y_cols[level]
            index[1::2] = self._cf
            value = np.zeros(2 * nk)
            value[0::2] = 1.0
            h.addRows(
                nk, np.zeros(nk), np.full(nk, self._inf), 2 * nk, np.arange(0, 2 * nk, 2, dtype=np.int32), index, value
            )
            share = np.zeros(nk)
        cost = self._level_cost(k) if kind == "level" else self._fraction_cost(k)
        h.changeColsCost(self._ncol, self._all_cols, cost)
        model = _Model(h, cost, share)
        self._models[key] = model
        return model

    def _fraction_cost(self, k: int) -> np.ndarray:
        """Objective of level k's fraction LP: f (its weight is set before each solve, see ``_run``),
        and the settled levels at ``_SETTLED``, so that the slack they were held with is not traded
        for f."""
        cost = np.zeros(self._ncol)
        for level in self._levels[:k]:
            cost[self._y_cols[level]] = _SETTLED
        return cost

    def _run(
        self,
        key: tuple[str, int],
        lo: np.ndarray,
        hi: np.ndarray,
        *,
        need: np.ndarray | None = None,
        f_bounds: tuple[float, float] = (0.0, 0.0),
    ) -> np.ndarray:
        model = self._model(key)
        h, hs = model.h, self._highspy
        col_lo, col_hi = self._col_lo, self._col_hi
        col_lo[self._y_cols], col_hi[self._y_cols] = lo, hi
        col_lo[self._cf], col_hi[self._cf] = f_bounds
        h.changeRowsBounds(self._nrow, self._all_rows, self._row_lo, self._row_hi)
        h.changeColsBounds(self._var_cols.size, self._var_cols, col_lo[self._var_cols], col_hi[self._var_cols])
        if need is not None:
            d = need[self._levels[key[1]]]
            changed = np.flatnonzero(d != model.share)
            for j in changed:  # y_d - D_d f >= 0: only demands that changed since this model's last solve
                h.changeCoeff(self._nrow + int(j), self._cf, -float(d[j]))
            model.share[changed] = d[changed]
            # f weighs about the level's total demand D (D/2 to D), so that a unit of water moves the
            # objective by ~1; a power of two, so that the objective (and the basis's dual
            # feasibility) changes only when the demand doubles or halves
            w = 2.0 ** np.floor(np.log2(max(float(d.sum()), 1e-300)))
            if w != model.cost[self._cf]:
                model.cost[self._cf] = w
                h.changeColCost(self._cf, w)
        h.run()
        status = h.getModelStatus()
        if status != hs.HighsModelStatus.kOptimal:
            # a warm start can stall short of the 1e-9 tolerances (status Unknown): start cold, and
            # then with the primal simplex, which has finished every such case met so far
            h.clearSolver()
            h.run()
            status = h.getModelStatus()
            if status != hs.HighsModelStatus.kOptimal:
                h.setOptionValue("simplex_strategy", 4)
                h.clearSolver()
                h.run()
                status = h.getModelStatus()
                h.setOptionValue("simplex_strategy", 1)
        if status != hs.HighsModelStatus.kOptimal and not self._near_optimal(h):
            raise ArithmeticError(f"HiGHS returned {h.modelStatusToString(status)}")
        # vertices sit on bounds; -1e-17 is round-off of 0, and every column is >= 0
        return np.maximum(np.asarray(h.getSolution().col_value)[: self._ncol], 0.0)

    @staticmethod
    def _near_optimal(h) -> bool:
        """A primal-feasible answer whose reduced costs miss optimality by < 1e-6 (HiGHS says Unknown).

        Deliveries weigh >= 1e-2 in every objective, so a direction that improves it by 1e-6 per
        m3/s can only be a tie-breaker (costs, storage kept), never a delivery.
        """
        info = h.getInfo()
        return (
            info.primal_solution_status == 2
            and info.max_primal_infeasibility <= 1e-9
            and info.max_dual_infeasibility <= 1e-6
        )

    def _share(self, k: int, need: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Equal-percentage sharing within a level: max common fraction, then max total.

        The second LP is the level's own LP with every demand held at ``f D_d`` by its lower bound (f
        is a number by then), so it restarts from that LP's basis. The bound is ``min(f D_d, y_d)``
        with ``y`` the fraction LP's own deliveries: that solution stays feasible, so round-off in f
        can never make the second LP infeasible, and ``y_d >= f D_d`` holds there to the solver's
        tolerance.
        """
        x = self._run(("fraction", k), lo, hi, need=need, f_bounds=(0.0, 1.0))
        f = x[self._cf]
        level = self._levels[k]
        held = lo.copy()
        held[level] = np.maximum(lo[level], np.minimum(f * need[level], x[self._cy + level]))
        return self._run(("level", k), held, hi)


class _Model(NamedTuple):
    """One HiGHS model of the network, for one kind of LP; ``share`` holds the demands its
    equal-percentage rows were last given."""

    h: object
    cost: np.ndarray
    share: np.ndarray


def balance_error(
    net: SupplyNetwork,
    inflow: np.ndarray,
    storage_before: np.ndarray,
    evaporation: np.ndarray,
    alloc: Allocation,
    dt: float,
) -> tuple[float, float]:
    """System mass balance of one step: (absolute error [m3], throughput [m3]).

    Parameters
    ----------
    inflow : float array (n,)
        External inflow of every node this step [m3/s], STORAGE nodes included.
    storage_before : float array (n,)
        Storage at the start of the step [m3].
    evaporation : float array (n,)
        Evaporation this step [m3].

    Notes
    -----
    In: external inflows. Out: what DEMAND nodes consume (their deliveries less the return flows),
    link losses, exits, evaporation and the change of storage. The throughput is the external inflow
    plus all link and return flows over the step, so the relative error does not hide behind large
    storages.
    """
    kind = net.kind
    sto = kind == STORAGE
    water_in = float(np.sum(inflow)) * dt
    src, _, frac = net.returns()
    returned = float(np.sum(alloc.delivered[src] * frac))
    consumed = float(np.sum(alloc.delivered[kind == DEMAND])) - returned
    water_out = (
        (consumed + float(np.sum(alloc.flow * net.loss)) + float(np.sum(alloc.exit))) * dt
        + float(np.sum(evaporation))
        + float(np.sum(alloc.storage[sto] - storage_before[sto]))
    )
    return abs(water_in - water_out), water_in + (float(np.sum(alloc.flow)) + returned) * dt
