"""Progress bars in a log (not a terminal): a few whole lines, no carriage-return redraws."""

from __future__ import annotations

import io

from click.testing import CliRunner

from conftest import plane_twin
from twin._progress import progress
from twin.cli.app import main


def test_bar_in_a_file_prints_a_line_per_tenth_and_no_carriage_returns():
    log = io.StringIO()
    bar = progress(1000, "flood storm", file=log, unit="s")
    for k in range(1000):
        bar.set_postfix_str(f"dt {k}", refresh=False)
        bar.update(1)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # the start, then 10 %, 20 %, ... 100 %: 11 lines for 1,000 updates
    assert len(lines) == 11 and lines[0].startswith("flood storm:   0%") and " 100%" in lines[-1]
    assert [int(line.split("%")[0].split()[-1]) for line in lines] == list(range(0, 101, 10))


def test_bar_that_stops_between_tenths_says_where_and_a_disabled_bar_is_silent():
    log = io.StringIO()
    bar = progress(1000, "river", file=log, initial=200)
    for _ in range(255):
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and "455/1000" in lines[-1]  # 20 %, 30 %, 40 %, and where it stopped
    quiet = io.StringIO()
    bar = progress(1000, "river", False, file=quiet)
    bar.update(500)
    bar.close()
    assert quiet.getvalue() == ""


def test_cli_flood_run_into_a_log_writes_a_few_progress_lines(tmp_path):
    """A 1-hour run with a minute between outputs updates the bar 60 times; into a log (CliRunner's
    stderr is not a terminal) that is at most 11 lines, none of them carriage-return fragments."""
    plane_twin().save(tmp_path / "tw")
    (tmp_path / "s.toml").write_text('name = "log"\nduration = 3600\noutput_interval = 60\n[rain]\nconstant = 20\n')
    res = CliRunner().invoke(
        main,
        ["run", str(tmp_path / "s.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "r"), "--no-scene"],
    )
    assert res.exit_code == 0, res.output
    assert "\r" not in res.stderr
    bar = [line for line in res.stderr.splitlines() if line.startswith("flood log:")]
    assert 2 <= len(bar) <= 11 and "3600/3600 s sim" in bar[-1], res.stderr
