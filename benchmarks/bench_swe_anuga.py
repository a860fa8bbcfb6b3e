"""ANUGA on the flood benchmark's problem, for the full shallow-water solver's comparison in RESULTS.md.

Plane sloping 0.1 % east, Manning 0.03, 100 mm/h rain, reflective walls, ``n`` x ``n`` squares of 2 m as
ANUGA's ``rectangular_cross_domain`` (4 triangles per square). ANUGA is not a project dependency (it
pulls its own NumPy, pandas, netCDF4): install it into a separate virtual environment and run this
script with that interpreter, with ``OMP_NUM_THREADS=1`` for one thread::

    python -m venv /tmp/anuga && /tmp/anuga/bin/pip install anuga
    OMP_NUM_THREADS=1 /tmp/anuga/bin/python benchmarks/bench_swe_anuga.py 100 300 DE1

Our side: ``bench_flood.run_ours(100, 2.0, 300.0, np.float64, 1, order=2)``.
"""

from __future__ import annotations

import sys
import time


def main(n: int = 100, t_end: float = 300.0, algorithm: str = "DE1") -> None:
    import anuga

    dx = 2.0
    length = n * dx
    domain = anuga.rectangular_cross_domain(n, n, len1=length, len2=length)
    domain.set_flow_algorithm(algorithm)
    domain.set_quantity("elevation", lambda x, y: 1e-3 * (length - x))
    domain.set_quantity("friction", 0.03)
    domain.set_quantity("stage", expression="elevation")
    wall = anuga.Reflective_boundary(domain)
    domain.set_boundary({"left": wall, "right": wall, "top": wall, "bottom": wall})
    anuga.Rate_operator(domain, rate=0.1 / 3600.0)
    domain.set_store(False)
    steps = 0
    t0 = time.perf_counter()
    for _ in domain.evolve(yieldstep=10.0, finaltime=t_end):
        steps += domain.number_of_steps  # steps since the last yield
    seconds = time.perf_counter() - t0
    print(
        f"ANUGA {anuga.__version__} {algorithm}: {len(domain)} triangles, {steps} steps, {seconds:.2f} s, "
        f"{len(domain) * steps / seconds:.3g} triangle updates/s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]) if len(sys.argv) > 3 else main()
