"""``twin scene``: the offline 3D scene of a result folder."""

from __future__ import annotations

import json
from pathlib import Path

import click

from twin.cli.options import (
    FolderIn,
    twin_option,
)


@click.command()
@click.argument("result_dir", type=FolderIn())
@twin_option(required=False, help="Twin folder (default: the one recorded in the result's summary).")
@click.option("--out", type=click.Path(path_type=Path), help="HTML file (default: RESULT_DIR/scene.html).")
def scene(result_dir: Path, twin_dir: Path | None, out: Path | None) -> None:
    """Write the offline 3D scene (HTML) of a flood, river or terrain result, or of a forecast folder's
    latest cycle (into its cycles/<time>/scene.html; the twin the cycle recorded unless --twin).

    A flood result shows its depth, hazard and buildings; a river result its links coloured by
    peak discharge; a terrain result its streams coloured by Strahler order.
    """
    from twin.errors import InputDataError
    from twin.model.twin import Twin
    from twin.sims.runs import load_result

    if (result_dir / "latest.json").is_file():
        from twin.live.publish import read_latest
        from twin.scene.forecast import forecast_scene

        latest = read_latest(result_dir)
        if latest is None:
            raise InputDataError(
                f"{result_dir} is a forecast folder without a complete cycle yet; run `twin forecast` first."
            )
        folder = result_dir / latest["path"]
        twin_dir = twin_dir or _forecast_twin(result_dir, latest["record"])
        path = forecast_scene(Twin.load(twin_dir), folder).to_html(
            out or folder / "scene.html", title=f"cimtwin forecast {folder.name}"
        )
        click.echo(f"Scene written to {path}")
        return
    summary = json.loads((result_dir / "summary.json").read_text()) if (result_dir / "summary.json").is_file() else {}
    if summary.get("kind") == "water" or (result_dir / "allocation.nc").is_file():
        raise InputDataError(
            f"{result_dir} holds a water result, which has no map: its shortages are in "
            "shortages.csv and the flows in allocation.nc (twin water --plot draws storage and "
            "shortages); `twin scene` draws flood, river and terrain results."
        )
    twin_dir = twin_dir or (Path(summary["twin"]) if summary.get("twin") else None)
    if twin_dir is None or not Path(twin_dir).is_dir():
        raise InputDataError(f"The twin of {result_dir} is not known or has moved; pass --twin TWIN_DIR.")
    result = load_result(result_dir, twin=Twin.load(twin_dir))
    # a flood result with a roads layer: its roads.gpkg drawn cut and open by the slider's time
    roads = {"roads": result_dir / "roads.gpkg"} if (result_dir / "roads.gpkg").is_file() else {}
    path = result.scene(**roads).to_html(out or result_dir / "scene.html", title=result.scene_title())
    click.echo(f"Scene written to {path}")


def _forecast_twin(folder: Path, record: dict) -> Path:
    """The twin a forecast cycle recorded in its ``cycle.json``; a clear error when it is not known or gone."""
    from twin.errors import InputDataError

    recorded = record.get("twin")
    if not recorded:
        raise InputDataError(
            f"The latest cycle of {folder} does not record its twin (forecast from a twin never saved, or "
            "by an older cimtwin); pass it with --twin TWIN_DIR."
        )
    if not (Path(recorded) / "twin.json").is_file():
        raise InputDataError(
            f"The twin the forecasts in {folder} were made on, {recorded}, is gone or moved; "
            "pass it with --twin TWIN_DIR."
        )
    return Path(recorded)
