"""``twin run``: any kind's scenario file on a twin; :func:`run_scenario` is what the kind aliases use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from twin.cli.options import (
    allow_path_option,
    out_option,
    overwrite_option,
    quiet_option,
    twin_option,
)
from twin.cli.report import print_result


@click.command("run")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@twin_option(required=False, help="Twin folder (from `twin ingest` or `twin demo`); a water scenario runs without one.")
@out_option()
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue from the checkpoint beside --out (flood).")
@click.option("--stop-at", type=float, help="Stop at this simulated time [s] with a checkpoint (flood; resume later).")
@click.option("--threads", type=int, help="Threads for the kernels (default: all cores).")
@click.option("--no-scene", is_flag=True, help="Do not write scene.html (flood).")
@click.option(
    "--device", type=click.Choice(["cpu", "gpu"]), help="Where the flood kernel runs (flood; over numerics.device)."
)
@quiet_option
@allow_path_option
def run_cmd(
    scenario: Path,
    twin_dir: Path | None,
    out: Path,
    overwrite: bool,
    resume: bool,
    stop_at: float | None,
    threads: int | None,
    no_scene: bool,
    device: str | None,
    quiet: bool,
    allowed_paths: tuple[Path, ...],
) -> None:
    """Run a scenario file on a twin and write the result folder; its `kind` (flood, river, water,
    terrain or a registered one) picks the simulation."""
    from twin.sims.runs import load_scenario

    given = {
        "resume": True if resume else None,
        "stop_at": stop_at,
        "scene": False if no_scene else None,
        "device": device,
    }
    result = run_scenario(
        load_scenario(scenario, allowed_paths=allowed_paths),
        scenario,
        twin_dir,
        out,
        overwrite,
        threads,
        progress=not quiet,
        **{k: v for k, v in given.items() if v is not None},
    )
    if result is None:
        click.echo(f"Stopped at t = {stop_at:g} s; checkpoint {out}.checkpoint.npz. Continue with --resume.")
        return
    click.echo(f"Result saved to {out}\n")
    print_result(result.summary)


def run_scenario(
    sc: Any, source: Path | None, twin_dir: Path | None, out: Path, overwrite: bool, threads: int | None, **options: Any
) -> Any:
    """Run the validated scenario ``sc`` through its kind (what ``twin run`` and its aliases share)."""
    from twin import _io
    from twin.model.twin import Twin
    from twin.sims.kinds import CLI_OPTIONS, get_kind, kinds
    from twin.sims.runs import run

    kind = get_kind(sc.kind)
    refused = [k for k in options if k != "progress" and k not in kind.options]
    if refused:
        takers = sorted(n for n, k in kinds().items() if set(refused) <= set(k.options)) or ["other"]
        raise click.UsageError(
            f"the options {' and '.join(CLI_OPTIONS[k] for k in refused)} apply to "
            f"{' and '.join(takers)} runs; {source} is a {sc.kind} scenario."
        )
    if twin_dir is None and kind.needs_twin:
        raise click.UsageError(f"a {sc.kind} scenario runs on a twin; give --twin TWIN_DIR.")
    if threads:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    _io.check_out(out, sc.kind, inputs=[source, twin_dir], overwrite=overwrite)
    return run(Twin.load(twin_dir) if twin_dir is not None else None, sc, out=out, overwrite=overwrite, **options)
