"""Measured pulse currents from a CSV file, read strictly.

The file has a header and one row per measured pulse:

    anode,cathode,voltage_V,current_A[,pulse][,time_s]

`voltage_V` is the generator's voltage between the pair (anode positive, V), `current_A` the
current it measured (A, positive). `pulse` (the pulse's index in the pair's train, from 0) and
`time_s` (s) are optional and kept for the report. Every problem is one `MeasurementError` line
naming the file, the line and the column: the file is checked in full before anything runs.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.errors import InputError

REQUIRED = ("anode", "cathode", "voltage_V", "current_A")
OPTIONAL = ("pulse", "time_s")
MAX_BYTES = 8 * 2**20  # a measurement file of a treatment is kilobytes; read no further
MAX_ROWS = 100_000


class MeasurementError(InputError):
    """A measurements file that cannot be used (exit code 2)."""


@dataclass(frozen=True)
class Measurements:
    """Measured pulses, one entry per CSV row, SI units.

    Attributes:
        anode, cathode: electrode names per row.
        voltage: (n,) V; current: (n,) A, positive.
        pulse: (n,) int, index in the pair's train (0 when the file has no `pulse` column).
        time: (n,) s, or NaN where the file gives none.
        source: the file's name, for reports.
    """

    anode: tuple[str, ...]
    cathode: tuple[str, ...]
    voltage: np.ndarray
    current: np.ndarray
    pulse: np.ndarray
    time: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.anode)

    def solves(self) -> tuple[list[tuple[str, str, float]], np.ndarray]:
        """The distinct (anode, cathode, voltage) solves, in order of first appearance, and
        the solve of each row, (n,) int: repeated pulses of one pair share a solve."""
        index: dict[tuple[str, str, float], int] = {}
        of_row = [index.setdefault((a, c, float(v)), len(index))
                  for a, c, v in zip(self.anode, self.cathode, self.voltage)]
        return list(index), np.asarray(of_row, dtype=np.int64)


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MeasurementError(f"{where}: {column} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise MeasurementError(f"{where}: {column} is {text[:40]!r}, not a finite number")
    return value


def _header(row: list[str], name: str) -> list[str]:
    columns = [c.strip() for c in row]
    for column in columns:
        if column not in REQUIRED + OPTIONAL:
            raise MeasurementError(
                f"{name}: unknown column {column[:40]!r}; columns: "
                f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}")
    if len(set(columns)) != len(columns):
        raise MeasurementError(f"{name}: a column is named twice in the header")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise MeasurementError(f"{name}: missing column(s) {', '.join(missing)} in the header "
                               f"(needs {', '.join(REQUIRED)})")
    return columns


def _row(values: dict[str, str], where: str, electrodes, max_voltage) -> tuple:
    anode, cathode = values["anode"], values["cathode"]
    for column, name in (("anode", anode), ("cathode", cathode)):
        if name not in electrodes:
            raise MeasurementError(f"{where}: {column} {name[:40]!r} is not an electrode of the "
                                   f"config (electrodes: {', '.join(electrodes)})")
    if anode == cathode:
        raise MeasurementError(f"{where}: anode and cathode are the same electrode {anode!r}")
    voltage = _number(values["voltage_V"], where, "voltage_V")
    current = _number(values["current_A"], where, "current_A")
    if voltage <= 0:
        raise MeasurementError(
            f"{where}: voltage_V must be positive (anode at +V), got {voltage:g}")
    if max_voltage is not None and voltage > max_voltage:
        raise MeasurementError(f"{where}: voltage_V {voltage:g} V is over the device limit "
                               f"device.max_voltage = {max_voltage:g} V")
    if current <= 0:
        raise MeasurementError(f"{where}: current_A must be positive, got {current:g}")
    pulse = _number(values["pulse"], where, "pulse") if values.get("pulse") else 0.0
    if pulse < 0 or pulse != int(pulse):
        raise MeasurementError(f"{where}: pulse must be a whole number from 0, got {pulse:g}")
    time = _number(values["time_s"], where, "time_s") if values.get("time_s") else math.nan
    return anode, cathode, voltage, current, int(pulse), time


def parse_measurements(text: str, name: str, electrodes, max_voltage=None) -> Measurements:
    """Measurements from CSV text.

    Args:
        text: the file's content; name: how messages name it.
        electrodes: the config's electrode names; max_voltage: device limit in V, or None.
    Raises:
        MeasurementError: an empty file, a missing or unknown column, a row with a missing
            electrode, a value that is not a positive finite number, a voltage over the device
            limit (one line naming the file, the line and the column).
    """
    lines = csv.reader(io.StringIO(text.removeprefix("\ufeff")))  # a spreadsheet's BOM
    try:
        header = next(lines, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(lines, None)
        if header is None:
            raise MeasurementError(f"{name}: the file is empty (needs a header "
                                   f"{','.join(REQUIRED)} and at least one row)")
        columns = _header(header, name)
        rows = []
        for row in lines:
            if not any(c.strip() for c in row):
                continue
            where = f"{name}, line {lines.line_num}"
            if len(row) != len(columns):
                raise MeasurementError(f"{where}: {len(row)} values for {len(columns)} columns")
            if len(rows) >= MAX_ROWS:
                raise MeasurementError(f"{name}: more than {MAX_ROWS} rows")
            values = dict(zip(columns, (v.strip() for v in row)))
            rows.append(_row(values, where, tuple(electrodes), max_voltage))
    except csv.Error as exc:
        raise MeasurementError(f"{name}: not a readable CSV file ({exc})") from None
    if not rows:
        raise MeasurementError(f"{name}: no measurements after the header")
    anode, cathode, voltage, current, pulse, time = zip(*rows)
    return Measurements(tuple(anode), tuple(cathode), np.asarray(voltage), np.asarray(current),
                        np.asarray(pulse, dtype=np.int64), np.asarray(time), name)


def read_measurements(path, electrodes, max_voltage=None) -> Measurements:
    """`parse_measurements` of a file (at most MAX_BYTES, UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise MeasurementError(f"{path}: no such measurements file")
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise MeasurementError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MeasurementError(f"{path}: not a UTF-8 text file") from None
    return parse_measurements(text, str(path), electrodes, max_voltage)
