"""The skeleton every result class shares: one folder written atomically, read back checked.

A result folder holds the kind's own files, ``summary.json``, ``scenario.json`` and ``cimtwin.json``
(the kind and the SHA-256 of every file, written by :func:`twin._io.atomic_dir` and checked by
:func:`twin._io.verify_dir` on load). A kind's result class subclasses :class:`Result` and writes and
reads only its own files (``_write_files`` / ``_read_files``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from twin import _io
from twin.errors import InputDataError

__all__ = ["Result", "common_summary"]


def common_summary(kind: str, scenario: Any, twin: Any, wall_seconds: float) -> dict[str, Any]:
    """The keys every result's ``summary`` starts with.

    ``kind``, ``name`` (the scenario's), ``scenario_hash``, ``cimtwin`` (version), ``wall_seconds``
    and, for a twin read from a folder, ``twin`` (that folder, which ``twin scene`` uses).
    """
    import twin as _pkg

    head = {
        "kind": kind,
        "name": scenario.name,
        "scenario_hash": scenario.hash,
        "cimtwin": _pkg.__version__,
        "wall_seconds": float(wall_seconds),
    }
    if getattr(twin, "path", None) is not None:
        head["twin"] = str(twin.path)
    return head


class Result:
    """Base of the result classes: :meth:`save` and :meth:`load` of the result folder.

    Subclasses set ``kind``, hold ``summary`` (dict) and ``scenario`` (dict, or a scenario model
    with ``to_dict``), and implement ``_write_files(folder)`` and
    ``_read_files(path, summary, scenario, twin)``.
    """

    kind: ClassVar[str] = ""
    #: files whose presence tells this kind's folder apart (besides summary.json and scenario.json)
    signature: ClassVar[tuple[str, ...]] = ()
    summary: dict[str, Any]
    scenario: Any

    def _write_files(self, folder: Path) -> None:  # pragma: no cover - every kind implements it
        raise NotImplementedError

    @classmethod
    def _read_files(cls, path: Path, summary: dict[str, Any], scenario: dict[str, Any], twin: Any) -> Result:
        raise NotImplementedError  # pragma: no cover

    def scene(self) -> Any:
        """The 3D scene of this result on its twin; a kind without a map raises."""
        raise InputDataError(f"a {self.kind} result has no map; `twin scene` draws flood, river and terrain results.")

    def scene_title(self) -> str:
        """The title of the scene's page."""
        name = self.summary.get("name") or self._scenario_record().get("name") or self.kind
        return f"cimtwin: {name}"

    def _scenario_record(self) -> dict[str, Any]:
        return self.scenario.to_dict() if hasattr(self.scenario, "to_dict") else self.scenario

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result folder atomically: the kind's files, ``summary.json``, ``scenario.json``
        and ``cimtwin.json`` (SHA-256 of each).

        Only a new or empty folder or a folder cimtwin wrote is replaced (see
        :func:`twin._io.check_out`); ``overwrite`` also replaces a cimtwin folder of another kind.
        """
        path = Path(path)
        with _io.atomic_dir(path, self.kind, overwrite=overwrite) as tmp:
            self._write_files(tmp)
            _io.write_json(tmp / "summary.json", self.summary)
            _io.write_json(tmp / "scenario.json", self._scenario_record())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, twin: Any = None) -> Result:
        """Read a result folder written by :meth:`save`, optionally attaching the twin it ran on.

        Raises
        ------
        InputDataError
            The folder is not a result of this kind (the message says what it holds), or a file is
            missing or was altered since it was written (its SHA-256 in ``cimtwin.json`` differs).
        """
        path = Path(path)
        _io.recover_dir(path)
        what = f"{cls.kind} result folder"
        needed = ("summary.json", "scenario.json", *cls.signature)
        if not all((path / n).is_file() for n in needed):
            raise InputDataError(
                f"{path} is not a {what} (it needs {', '.join(needed)}); give the folder that "
                f"`twin run` or run(..., out=...) wrote"
            )
        held = _io.folder_kind(path)
        if held is not None and held != cls.kind:
            raise InputDataError(
                f"{path} holds {_io.KINDS.get(held, held)}, not a {cls.kind} result; load it "
                "with twin.load_result(path)"
            )
        _io.verify_dir(path)
        summary = json.loads((path / "summary.json").read_text())
        scenario = json.loads((path / "scenario.json").read_text())
        return cls._read_files(path, summary, scenario, twin)
