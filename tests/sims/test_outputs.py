"""Output folders: ``--out`` replaces only what cimtwin wrote, results carry checksums, a save cut
short is undone (by the CLI too), a scene that fails never costs the result, errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import plane_twin
from twin import _io
from twin.cli.app import main
from twin.errors import InputDataError
from twin.model.twin import Twin
from twin.sims.flood.compare import compare
from twin.sims.flood.run import FloodResult, run

FLOOD = 'name = "short"\nduration = 60\noutput_interval = 30\n[rain]\nconstant = 50\n'


@pytest.fixture
def city(tmp_path):
    """A saved twin and a short flood scenario file."""
    plane_twin().save(tmp_path / "tw")
    (tmp_path / "flood.toml").write_text(FLOOD)
    return tmp_path


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _error_line(res) -> str:
    """The one line the CLI printed for an error (asserting it is one line, and the exit code 2)."""
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def _run(city, out, *more):
    return _cli("run", city / "flood.toml", "--twin", city / "tw", "--out", out, "--quiet", "--no-scene", *more)


def _nothing_aside(folder):
    return not [p for p in folder.iterdir() if ".old-" in p.name or ".tmp-" in p.name]


# ------------------------------------------------------------------------- what --out will replace


def test_out_holding_a_users_file_is_refused_and_the_file_kept(city):
    docs = city / "Documents"
    docs.mkdir()
    (docs / "thesis.docx").write_bytes(b"years of work")
    line = _error_line(_run(city, docs))
    assert "did not write" in line and str(docs) in line
    # not even with --overwrite: cimtwin never deletes a file it did not write
    _error_line(_run(city, docs, "--overwrite"))
    assert (docs / "thesis.docx").read_bytes() == b"years of work" and _nothing_aside(city)
    # the Python API checks before the run too
    with pytest.raises(InputDataError, match="did not write"):
        run(Twin.load(city / "tw"), city / "flood.toml", out=docs, progress=False)
    assert sorted(p.name for p in docs.iterdir()) == ["thesis.docx"]


def test_out_naming_the_twin_or_an_input_folder_is_refused(city):
    line = _error_line(_run(city, city / "tw"))
    assert f"{city / 'tw'} is {city / 'tw'}, an input of the same command" in line
    # --overwrite replaces a cimtwin folder of another kind, but never an input of the same command
    assert "an input of the same command" in _error_line(_run(city, city / "tw", "--overwrite"))
    assert "an input of the same command" in _error_line(_run(city, city / "tw" / "result"))
    Twin.load(city / "tw")  # untouched
    # ingest with --out the folder holding its DEM
    src = city / "src"
    src.mkdir()
    dem = _io.write_geotiff(
        src / "dem.tif",
        np.full((20, 20), 5.0, np.float32),
        Twin.load(city / "tw").transform,
        Twin.load(city / "tw").crs,
    )
    line = _error_line(_cli("ingest", "--dem", dem, "--out", src, "--overwrite"))
    assert "contains" in line and "dem.tif" in line
    assert dem.is_file() and _nothing_aside(city)


def test_out_dot_home_and_parents_are_refused_before_the_run(city, monkeypatch):
    # a stand-in home folder: were the check broken, only it would be lost
    home = city / "home"
    (home / "work").mkdir(parents=True)
    (home / "letter.txt").write_text("keep me")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "work")
    for out in (".", "..", "~", home):
        line = _error_line(_run(city, out))
        assert "replaces the folder it writes as a whole" in line, out
    assert (home / "letter.txt").read_text() == "keep me" and (home / "work").is_dir()
    assert _nothing_aside(city) and _nothing_aside(home)
    with pytest.raises(InputDataError, match="the root folder"):
        _io.check_out("/", "flood")


def test_out_naming_a_file_is_refused_and_the_file_not_hidden(city):
    (city / "notes.txt").write_text("keep me")
    assert "is a file" in _error_line(_run(city, city / "notes.txt"))
    assert "is a file" in _error_line(_run(city, city / "notes.txt", "--overwrite"))
    assert (city / "notes.txt").read_text() == "keep me" and _nothing_aside(city)


def test_results_replace_results_and_overwrite_is_needed_across_kinds(city):
    out = city / "r"
    assert _run(city, out).exit_code == 0
    assert _io.folder_kind(out) == "flood"
    assert _run(city, out).exit_code == 0  # a flood result is replaced by a flood result
    # a twin over the result: only with --overwrite
    with pytest.raises(InputDataError, match="pass --overwrite"):
        Twin.load(city / "tw").save(out)
    Twin.load(city / "tw").save(out, overwrite=True)
    assert _io.folder_kind(out) == "twin"
    # a file put into a cimtwin folder by someone else stops its replacement, whatever the flag
    (out / "my-notes.txt").write_text("mine")
    with pytest.raises(InputDataError, match="my-notes.txt.*did not write"):
        Twin.load(city / "tw").save(out, overwrite=True)
    assert (out / "my-notes.txt").read_text() == "mine"
    # an empty folder is fine
    (city / "empty").mkdir()
    assert _run(city, city / "empty").exit_code == 0


def test_folders_written_before_the_marker_are_still_replaced_and_read(city):
    out = city / "old"
    assert _run(city, out).exit_code == 0
    (out / _io.MARKER).unlink()  # as written by an earlier cimtwin
    (city / "tw" / _io.MARKER).unlink()
    assert _io.folder_kind(out) == "flood" and _io.folder_kind(city / "tw") == "twin"
    FloodResult.load(out)
    assert _run(city, out).exit_code == 0 and (out / _io.MARKER).is_file()
    Twin.load(city / "tw").save(city / "tw")
    # an old result holds only the names that version wrote: anything else is someone's, and stays
    (out / _io.MARKER).unlink()
    (out / "report.pdf").write_bytes(b"%PDF")
    assert "report.pdf" in _error_line(_run(city, out, "--overwrite"))
    assert (out / "report.pdf").is_file()
    # a data folder that merely has a DEM, layers and a scenario is not taken for a sample city
    data = city / "data"
    data.mkdir()
    for name in ("dem.tif", "city.gpkg", "flood.toml"):
        (data / name).write_bytes(b"mine")
    assert _io.folder_kind(data) is None
    assert "did not write" in _error_line(
        _cli("run", city / "flood.toml", "--twin", city / "tw", "--out", data, "--overwrite")
    )


def test_a_sample_city_goes_only_where_nothing_else_is(tmp_path):
    from twin import sample

    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(InputDataError, match="did not write"):
        sample.city(tmp_path, size_m=400, cell=4)


# ------------------------------------------------------------------------------------------ scenes


def test_a_scene_that_fails_is_a_warning_and_the_result_stays(city, monkeypatch):
    def broken_scene(*args, **kwargs):
        raise ValueError("stray wall far outside the twin (simulated)")

    monkeypatch.setattr("twin.scene.city.city_scene", broken_scene)
    out = city / "r"
    with pytest.warns(UserWarning, match="scene.html could not be written.*simulated"):
        result = run(Twin.load(city / "tw"), city / "flood.toml", out=out, progress=False)
    assert not (out / "scene.html").exists()
    again = FloodResult.load(out)
    np.testing.assert_array_equal(again.max_depth, result.max_depth)
    # the CLI says so on one line and succeeds
    res = _cli("run", city / "flood.toml", "--twin", city / "tw", "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "simulated" in warnings[0] and "Result saved" in res.output


# ---------------------------------------------------------------------------------------- recovery


def test_crash_between_the_two_renames_is_recovered_by_twin_info(city):
    tw = city / "tw"
    os.replace(tw, city / ".tw.old-0123abcd")  # the first rename of a save, then the power went
    res = _cli("info", tw)
    assert res.exit_code == 0, res.output
    assert "restored from the previous save" in res.output and "Grid" in res.output
    Twin.load(tw)
    assert _nothing_aside(city)


def test_a_half_deleted_copy_is_not_chosen(city):
    tw = city / "tw"
    good = city / ".tw.old-00000001"
    os.replace(tw, good)
    half = city / ".tw.old-00000002"
    Twin.load(good).save(half.parent / "x")
    os.replace(half.parent / "x", half)
    (half / "terrain.tif").unlink()  # rmtree cut short
    later = good.stat().st_mtime + 100
    os.utime(half, (later, later))  # the half-deleted one is the newer
    assert _io.recover_dir(tw)
    Twin.load(tw)
    assert (tw / "terrain.tif").is_file() and _nothing_aside(city)


def test_no_copy_that_verifies_means_nothing_is_put_back(city):
    tw = city / "tw"
    os.replace(tw, city / ".tw.old-00000001")
    (city / ".tw.old-00000001" / "layers.gpkg").unlink()
    assert not _io.recover_dir(tw)
    assert "none passes its checksums" in _error_line(_cli("info", tw))
    with pytest.raises(InputDataError, match="none passes its checksums"):
        Twin.load(tw)
    assert (city / ".tw.old-00000001").is_dir()  # left for a person to look at


def test_files_put_into_the_folder_during_the_run_are_kept_and_so_is_the_result(city, monkeypatch):
    out = city / "r"
    assert _run(city, out).exit_code == 0
    real_write_marker = _io.write_marker

    def someone_saves_a_file_meanwhile(folder, kind, files=None):
        (out / "my-notes.txt").write_text("mine")
        return real_write_marker(folder, kind, files)

    monkeypatch.setattr(_io, "write_marker", someone_saves_a_file_meanwhile)
    with pytest.raises(InputDataError, match="my-notes.txt.*kept in"):
        run(Twin.load(city / "tw"), city / "flood.toml", out=out, progress=False, scene=False)
    assert (out / "my-notes.txt").read_text() == "mine"
    (kept,) = city.glob("r.new-*")
    FloodResult.load(kept)


def test_stale_temporary_folders_are_cleaned(city):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [city / ".tw.tmp-1a2b3c4d", city / f".tw.tmp-{dead.pid}-1a2b3c4d"]
    live = city / f".tw.tmp-{os.getppid()}-1a2b3c4d"  # a writer still at work
    for p in (*stale, live):
        p.mkdir()
        (p / "terrain.tif").write_bytes(b"half")
    assert _cli("info", city / "tw").exit_code == 0
    assert not any(p.exists() for p in stale) and live.is_dir()
    # and a save cleans them too
    stale[0].mkdir()
    Twin.load(city / "tw").save(city / "tw")
    assert not stale[0].exists()


# --------------------------------------------------------------------------------------- checksums


def test_a_tampered_result_file_is_refused_by_load_and_compare(city):
    tw = Twin.load(city / "tw")
    a = run(tw, city / "flood.toml", out=city / "a", progress=False, scene=False)
    run(tw, city / "flood.toml", out=city / "b", progress=False, scene=False)
    marker = json.loads((city / "a" / _io.MARKER).read_text())
    assert marker["written_by"] == "cimtwin" and marker["kind"] == "flood"
    assert {"max_depth.tif", "summary.json", "scenario.json", "gauges.csv"} <= set(marker["files"])
    import rasterio

    with rasterio.open(city / "b" / "max_depth.tif") as src:  # a plausible edit: 1 m less everywhere
        profile = {**src.profile, "driver": "GTiff"}  # a COG is rewritten, not edited in place
    with rasterio.open(city / "b" / "max_depth.tif", "w", **profile) as dst:
        dst.write(np.maximum(a.max_depth - 1.0, 0).astype(np.float32), 1)
    with pytest.raises(InputDataError, match=r"max_depth\.tif is missing or differs"):
        FloodResult.load(city / "b")
    with pytest.raises(InputDataError, match=r"max_depth\.tif"):
        compare(city / "a", city / "b")
    line = _error_line(_cli("compare", city / "a", city / "b", "--out", city / "c", "--no-scene"))
    assert "max_depth.tif" in line and not (city / "c").exists()
    # twin info shows a result's figures only as the run wrote them
    summary = json.loads((city / "a" / "summary.json").read_text())
    (city / "a" / "summary.json").write_text(json.dumps({**summary, "max_depth_m": 0.0}))
    assert "summary.json is missing or differs" in _error_line(_cli("info", city / "a"))


def test_river_and_water_results_are_verified_too(city):
    from conftest import HAND_TOML, write_hand
    from twin.sims.water.run import WaterResult
    from twin.sims.water.run import run as water_run

    water_run(None, write_hand(city, toml=HAND_TOML), out=city / "w")
    assert _io.folder_kind(city / "w") == "water"
    with open(city / "w" / "shortages.csv", "a") as fh:
        fh.write("x\n")
    with pytest.raises(InputDataError, match=r"shortages\.csv"):
        WaterResult.load(city / "w")


# ----------------------------------------------------------------------------------- one-line errors


def test_a_scenario_with_several_errors_is_one_line(city):
    (city / "bad.toml").write_text("duration = -5\nrian = 3\n")
    line = _error_line(_cli("run", city / "bad.toml", "--twin", city / "tw", "--out", city / "r"))
    assert "duration" in line and "rian" in line and not (city / "r").exists()


def test_an_ensemble_resumes_into_its_own_folder_and_no_other(city):
    from twin.ensemble.run import run_ensemble

    docs = city / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("mine")
    spec = {"base": {"duration": 60, "rain": {"constant": 20}}, "member": [{}]}
    with pytest.raises(InputDataError, match="did not write"):  # refused before any cluster starts
        run_ensemble(Twin.load(city / "tw"), spec, docs)
    assert sorted(p.name for p in docs.iterdir()) == ["a.txt"]
    (city / "old-ensemble").mkdir()
    (city / "old-ensemble" / "ensemble.json").write_text('{"status": "running"}')
    _io.check_out(city / "old-ensemble", "ensemble")  # an earlier (broken) ensemble is resumed
    with pytest.raises(InputDataError, match="holds an ensemble"):
        _io.check_out(city / "old-ensemble", "flood")
