"""IEEE C37.118.2-2011 synchrophasor frames: configuration (CFG-1/CFG-2), data, command and header.

Every frame is SYNC (0xAA, frame type in bits 4-6, version in bits 0-3), FRAMESIZE, IDCODE, SOC (seconds
since 1970 UTC), FRACSEC (time-quality byte, then the fraction of the second in units of 1/TIME_BASE), a
payload and CHK, the CRC-CCITT (polynomial 0x1021, initial 0xFFFF, no final XOR) of everything before it.
A data frame carries, per PMU of its configuration: STAT, the phasors, FREQ, DFREQ, the analogs and the
digital words; the FORMAT word of the CFG-2 says which are 16-bit integers and which are 32-bit floats,
and whether phasors are polar or rectangular.

Values leave this module in tsgan's units and channel names (`PmuConfig.channels`): a phasor named X
gives X_mag (V or A) and X_ang (degrees in (-180, 180]); then freq (Hz) and rocof (Hz/s); then analogs
by their names. Digital words are carried but are not channels.

Written from the standard (reference/c37118.md), not from pyc37: pyc37 refuses float FREQ above 32.767
(frequency in Hz is around 60) and scales integer angles as if they were magnitudes; the tests decode the
same frames with pyc37 where it is right, and with plain `struct` where it is not.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from tsgan.errors import InputError

SYNC = 0xAA
VERSION = 2  # C37.118.2-2011
TIME_BASE = 1_000_000  # FRACSEC in microseconds
_COMMON = struct.Struct(">BBHHII")  # SYNC, type/version, FRAMESIZE, IDCODE, SOC, FRACSEC
HEADER_SIZE = _COMMON.size  # 14 bytes before the payload
MIN_FRAME = HEADER_SIZE + 2  # a header frame with no text
_NAME = 16  # bytes per station or channel name


class FrameType(IntEnum):
    DATA = 0
    HEADER = 1
    CFG1 = 2
    CFG2 = 3
    COMMAND = 4
    CFG3 = 5


CONFIG_TYPES = (FrameType.CFG1, FrameType.CFG2, FrameType.CFG3)


class Command(IntEnum):
    DATA_OFF = 1
    DATA_ON = 2
    SEND_HEADER = 3
    SEND_CFG1 = 4
    SEND_CFG2 = 5
    SEND_CFG3 = 6
    EXTENDED = 8


# STAT bits 15-14: 10 (test mode or absent data) and 11 (PMU error) both mean "do not use the values".
STAT_DO_NOT_USE = 0x8000
STAT_CONFIG_CHANGED = 0x0400


def crc_ccitt(data: bytes) -> int:
    """CRC-CCITT of C37.118 (poly 0x1021, init 0xFFFF, no final XOR); binascii.crc_hqx is exactly this."""
    return binascii.crc_hqx(data, 0xFFFF)


def time_of(soc: int, fracsec: int, time_base: int = TIME_BASE) -> int:
    """Nanoseconds since 1970 of a SOC and FRACSEC (whose top byte, the time quality, is ignored)."""
    return soc * 1_000_000_000 + (fracsec & 0xFFFFFF) * 1_000_000_000 // time_base


def _name(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace").strip(" \x00")


def _pad(name: str) -> bytes:
    raw = name.encode("ascii", errors="replace")[:_NAME]
    return raw.ljust(_NAME, b" ")


@dataclass
class PmuConfig:
    """One PMU of a configuration frame.

    phasor_units: per phasor ("V" or "I", scale) where scale is the PHUNIT 24-bit word in 1e-5 V or A per
    bit, used by integer phasors; analog_units: the ANUNIT words (type byte, signed 24-bit scale that
    integer analogs are multiplied by; 0 is read as 1). The four format flags are the FORMAT word's bits.
    """

    station: str
    idcode: int
    phasors: list[str]
    phasor_units: list[tuple[str, int]]
    analogs: list[str] = field(default_factory=list)
    analog_units: list[int] = field(default_factory=list)
    digitals: list[str] = field(default_factory=list)  # 16 names per digital word
    digital_units: list[int] = field(default_factory=list)
    polar: bool = True
    phasor_float: bool = True
    analog_float: bool = True
    freq_float: bool = True
    fnom: float = 60.0
    cfgcnt: int = 0

    @property
    def n_digital(self) -> int:
        return len(self.digital_units)

    @property
    def format_word(self) -> int:
        return self.polar | self.phasor_float << 1 | self.analog_float << 2 | self.freq_float << 3

    @property
    def channels(self) -> list[str]:
        """tsgan channel names of the values this PMU reports, in `DataCodec.decode` order."""
        return (
            [f"{p}_{part}" for p in self.phasors for part in ("mag", "ang")]
            + ["freq", "rocof"]
            + self.analogs
        )

    def _layout(self) -> str:
        """struct format of this PMU's block in a data frame (big-endian, without the leading '>')."""
        phasor = "ff" if self.phasor_float else ("Hh" if self.polar else "hh")
        return (
            "H"
            + phasor * len(self.phasors)
            + ("ff" if self.freq_float else "hh")
            + ("f" if self.analog_float else "h") * len(self.analogs)
            + "H" * self.n_digital
        )


@dataclass
class StreamConfig:
    """A configuration frame: the stream's IDCODE, its PMUs, the reporting rate (frames per second) and
    the TIME_BASE of FRACSEC."""

    idcode: int
    pmus: list[PmuConfig]
    rate: float
    time_base: int = TIME_BASE


@dataclass
class RawFrame:
    """A frame whose CRC was checked: its type, IDCODE, SOC, FRACSEC and payload (between header and CHK)."""

    type: FrameType
    idcode: int
    soc: int
    fracsec: int
    payload: bytes

    @property
    def time_ns(self) -> int:
        return time_of(self.soc, self.fracsec)


def encode_frame(frame_type: FrameType, idcode: int, soc: int, fracsec: int, payload: bytes) -> bytes:
    """A complete frame: common header, payload and CRC."""
    size = HEADER_SIZE + len(payload) + 2
    head = _COMMON.pack(SYNC, int(frame_type) << 4 | VERSION, size, idcode, soc, fracsec)
    body = head + payload
    return body + crc_ccitt(body).to_bytes(2, "big")


# --- command and header frames ------------------------------------------------------------------------


def encode_command(idcode: int, command: Command, soc: int = 0, fracsec: int = 0) -> bytes:
    return encode_frame(FrameType.COMMAND, idcode, soc, fracsec, struct.pack(">H", command))


def decode_command(frame: RawFrame) -> int:
    """The command number of a command frame (an unknown number is returned as it is)."""
    if len(frame.payload) < 2:
        raise InputError(f"command frame from IDCODE {frame.idcode} has {len(frame.payload)} payload bytes")
    return struct.unpack_from(">H", frame.payload)[0]


def encode_header(idcode: int, text: str, soc: int = 0, fracsec: int = 0) -> bytes:
    return encode_frame(FrameType.HEADER, idcode, soc, fracsec, text.encode("ascii", errors="replace"))


def decode_header(frame: RawFrame) -> str:
    return frame.payload.decode("ascii", errors="replace")


# --- configuration frames -----------------------------------------------------------------------------


def _rate_word(rate: float) -> int:
    """DATA_RATE: frames per second, or minus the seconds per frame for rates below one frame a second."""
    return int(round(rate)) if rate >= 1 else -int(round(1 / rate))


def encode_config(
    cfg: StreamConfig, soc: int = 0, fracsec: int = 0, frame_type: FrameType = FrameType.CFG2
) -> bytes:
    """A CFG-2 (or CFG-1, same layout) frame of `cfg`."""
    parts = [struct.pack(">IH", cfg.time_base & 0xFFFFFF, len(cfg.pmus))]
    for pmu in cfg.pmus:
        names = pmu.phasors + pmu.analogs + pmu.digitals
        if len(pmu.digitals) != 16 * pmu.n_digital or len(pmu.phasor_units) != len(pmu.phasors):
            raise InputError(f"PMU {pmu.station}: names and units of its channels do not match in number")
        parts += [
            _pad(pmu.station),
            struct.pack(
                ">5H", pmu.idcode, pmu.format_word, len(pmu.phasors), len(pmu.analogs), pmu.n_digital
            ),
            b"".join(_pad(n) for n in names),
            b"".join(struct.pack(">I", (kind == "I") << 24 | scale) for kind, scale in pmu.phasor_units),
            b"".join(struct.pack(">I", u & 0xFFFFFFFF) for u in pmu.analog_units),
            b"".join(struct.pack(">I", u) for u in pmu.digital_units),
            struct.pack(">HH", 1 if pmu.fnom == 50 else 0, pmu.cfgcnt),
        ]
    parts.append(struct.pack(">h", _rate_word(cfg.rate)))
    return encode_frame(frame_type, cfg.idcode, soc, fracsec, b"".join(parts))


def decode_config(frame: RawFrame) -> StreamConfig:
    """Parse a CFG-1 or CFG-2 frame; a truncated or inconsistent one is an InputError."""
    data = frame.payload
    try:
        time_base, n_pmu = struct.unpack_from(">IH", data)
        pos = 6
        pmus = []
        for _ in range(n_pmu):
            station = _name(data[pos : pos + _NAME])
            idcode, fmt, n_ph, n_an, n_dg = struct.unpack_from(">5H", data, pos + _NAME)
            pos += _NAME + 10
            names = [
                _name(data[pos + i * _NAME : pos + (i + 1) * _NAME]) for i in range(n_ph + n_an + 16 * n_dg)
            ]
            pos += _NAME * len(names)
            units = struct.unpack_from(f">{n_ph}I{n_an}i{n_dg}I", data, pos)
            pos += 4 * len(units)
            fnom, cfgcnt = struct.unpack_from(">HH", data, pos)
            pos += 4
            pmus.append(
                PmuConfig(
                    station=station,
                    idcode=idcode,
                    phasors=names[:n_ph],
                    phasor_units=[("I" if u >> 24 == 1 else "V", u & 0xFFFFFF) for u in units[:n_ph]],
                    analogs=names[n_ph : n_ph + n_an],
                    analog_units=list(units[n_ph : n_ph + n_an]),
                    digitals=names[n_ph + n_an :],
                    digital_units=list(units[n_ph + n_an :]),
                    polar=bool(fmt & 1),
                    phasor_float=bool(fmt & 2),
                    analog_float=bool(fmt & 4),
                    freq_float=bool(fmt & 8),
                    fnom=50.0 if fnom & 1 else 60.0,
                    cfgcnt=cfgcnt,
                )
            )
        (rate_word,) = struct.unpack_from(">h", data, pos)
    except struct.error as exc:
        raise InputError(f"configuration frame from IDCODE {frame.idcode} is truncated ({exc})") from None
    if pos + 2 != len(data):
        raise InputError(
            f"configuration frame from IDCODE {frame.idcode}: {len(data) - pos - 2} bytes left over"
        )
    rate = float(rate_word) if rate_word > 0 else 1.0 / -rate_word if rate_word < 0 else 0.0
    return StreamConfig(frame.idcode, pmus, rate, (time_base & 0xFFFFFF) or TIME_BASE)


# --- data frames --------------------------------------------------------------------------------------


class DataCodec:
    """Encodes and decodes the data frames of one configuration, many frames at a time.

    Decoding unpacks each frame with one precompiled struct and converts all frames of a batch together
    with numpy; values come out as float64 in `PmuConfig.channels` order, with NaN for a PMU whose STAT
    says not to use its values.
    """

    def __init__(self, cfg: StreamConfig):
        self.cfg = cfg
        self._struct = struct.Struct(">" + "".join(pmu._layout() for pmu in cfg.pmus))
        self.frame_size = HEADER_SIZE + self._struct.size + 2
        self._blocks = []  # per PMU: (index of its first field, its PmuConfig); one field per format letter
        first = 0
        for pmu in cfg.pmus:
            self._blocks.append((first, pmu))
            first += len(pmu._layout())
        self._n_fields = first
        # Codecs with the same signature decode each other's frames alike (names and IDCODEs aside).
        self.signature = (
            self._struct.format,
            tuple((p.format_word, tuple(p.phasor_units), tuple(p.analog_units), p.fnom) for p in cfg.pmus),
        )

    def encode(
        self, soc: int, fracsec: int, values: list[np.ndarray], stats: list[int] | None = None
    ) -> bytes:
        """A data frame of one row per PMU (in `channels` order, tsgan units); STAT 0 unless given."""
        fields: list = []
        for i, (pmu, row) in enumerate(zip(self.cfg.pmus, values, strict=True)):
            n_ph = len(pmu.phasors)
            mag = np.asarray(row[0 : 2 * n_ph : 2], dtype=np.float64)
            ang = np.deg2rad(np.asarray(row[1 : 2 * n_ph : 2], dtype=np.float64))
            a, b = (mag, ang) if pmu.polar else (mag * np.cos(ang), mag * np.sin(ang))
            if not pmu.phasor_float:
                unit = np.array([scale for _, scale in pmu.phasor_units]) * 1e-5
                a = np.rint(a / unit)
                b = np.rint(b * 1e4) if pmu.polar else np.rint(b / unit)
            freq, rocof = float(row[2 * n_ph]), float(row[2 * n_ph + 1])
            if not pmu.freq_float:
                freq, rocof = round((freq - pmu.fnom) * 1000), round(rocof * 100)
            analogs = np.asarray(row[2 * n_ph + 2 :], dtype=np.float64)
            if not pmu.analog_float:
                analogs = np.rint(analogs / [_analog_scale(u) for u in pmu.analog_units])
            phasors = np.column_stack([a, b]).ravel()
            fields += [0 if stats is None else stats[i]]
            fields += phasors.tolist() if pmu.phasor_float else phasors.astype(int).tolist()
            fields += [freq, rocof]
            fields += analogs.tolist() if pmu.analog_float else analogs.astype(int).tolist()
            fields += [0] * pmu.n_digital
        try:
            payload = self._struct.pack(*fields)
        except struct.error as exc:
            raise InputError(f"a value does not fit the data format of the configuration: {exc}") from None
        return encode_frame(FrameType.DATA, self.cfg.idcode, soc, fracsec, payload)

    def decode(self, payloads: list[bytes]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Stats (N, n_pmus) and, per PMU, values (N, channels) of N data-frame payloads."""
        table = np.array([self._struct.unpack(p) for p in payloads], dtype=np.float64)
        table = table.reshape(len(payloads), self._n_fields)
        stats = np.empty((len(payloads), len(self._blocks)), dtype=np.int64)
        out = []
        for i, (first, pmu) in enumerate(self._blocks):
            stats[:, i] = table[:, first]
            out.append(self._values(table, first + 1, pmu, stats[:, i]))
        return stats, out

    @staticmethod
    def _values(table: np.ndarray, col: int, pmu: PmuConfig, stat: np.ndarray) -> np.ndarray:
        n_ph, n_an = len(pmu.phasors), len(pmu.analogs)
        a, b = table[:, col : col + 2 * n_ph : 2], table[:, col + 1 : col + 2 * n_ph : 2]
        if not pmu.phasor_float:
            unit = np.array([scale for _, scale in pmu.phasor_units], dtype=np.float64) * 1e-5
            a, b = a * unit, (b * 1e-4 if pmu.polar else b * unit)
        if pmu.polar:
            mag, ang = a, b
        else:
            mag, ang = np.hypot(a, b), np.arctan2(b, a)
        ang = np.rad2deg(ang)
        ang = np.where(ang <= -180.0, ang + 360.0, ang)
        col += 2 * n_ph
        freq, rocof = table[:, col], table[:, col + 1]
        if not pmu.freq_float:
            freq, rocof = pmu.fnom + freq / 1000.0, rocof / 100.0
        analogs = table[:, col + 2 : col + 2 + n_an]
        if not pmu.analog_float:
            analogs = analogs * np.array([_analog_scale(u) for u in pmu.analog_units], dtype=np.float64)
        values = np.empty((len(table), 2 * n_ph + 2 + n_an))
        values[:, 0 : 2 * n_ph : 2], values[:, 1 : 2 * n_ph : 2] = mag, ang
        values[:, 2 * n_ph], values[:, 2 * n_ph + 1] = freq, rocof
        values[:, 2 * n_ph + 2 :] = analogs
        values[(stat.astype(np.int64) & STAT_DO_NOT_USE) != 0] = np.nan
        return values


def _analog_scale(unit: int) -> float:
    """The signed 24-bit scale of an ANUNIT word (0, meaning unscaled, counts as 1)."""
    scale = unit & 0xFFFFFF
    scale = scale - (1 << 24) if scale & 0x800000 else scale
    return float(scale) or 1.0


# --- reading frames from a byte stream ----------------------------------------------------------------


class FrameReader:
    """Cuts a TCP byte stream into CRC-checked frames, skipping and counting what is damaged.

    A frame whose CRC fails is skipped whole (its FRAMESIZE is trusted) and counted in `bad_crc`, unless a
    valid frame starts inside it: then it was cut short (a sender that wrote part of a frame), it is
    counted in `truncated`, and reading goes on at the frame inside, which is not lost. A frame with an
    impossible type or size, or a data frame whose size is not `data_size` (when set from the
    configuration), is counted in `bad_size` and the reader resynchronises on the next SYNC byte: once per
    loss of sync, not once per stray SYNC byte on the way. While out of sync, a header that fails its CRC,
    or claims more bytes than have come while a valid frame starts inside them, is a stray SYNC byte
    and is passed over: waiting for the kilobytes that a stray "configuration frame" claims would hold
    the stream up for seconds. Bytes thrown away while searching for SYNC are counted in `skipped_bytes`.

    `feed` stops after a configuration frame (the rest waits in the buffer for the next call, with
    b"" for no new bytes): a new configuration changes the size of the data frames that follow it.
    """

    def __init__(self, data_size: int | None = None, max_size: int = 65_535):
        self.data_size = data_size
        self.max_size = max_size
        self.bad_crc = 0
        self.bad_size = 0
        self.truncated = 0
        self.skipped_bytes = 0
        self._buf = bytearray()
        self._in_sync = True

    def feed(self, data: bytes) -> list[RawFrame]:
        """Add received bytes; return the complete, valid frames they finish, in order (up to and
        including the first configuration frame)."""
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        while True:
            start = buf.find(SYNC, pos)
            if start < 0:
                self.skipped_bytes += len(buf) - pos
                pos = len(buf)
                break
            self.skipped_bytes += start - pos
            pos = start
            if len(buf) - pos < 4:
                break
            size = self._size_at(pos)
            if size is None:
                self.bad_size += self._in_sync
                self._in_sync = False
                pos += 1
                continue
            if len(buf) - pos < size:
                inner = None if self._in_sync else self._frame_inside(pos, len(buf) - pos)
                if inner is not None and inner > pos:
                    pos += 1  # a stray SYNC byte: a whole valid frame starts inside what it claims
                    continue
                break
            if not self._crc_ok(pos, size):
                if not self._in_sync:  # a stray SYNC byte on the way back into sync: the same loss
                    pos += 1
                    continue
                inner = self._frame_inside(pos, size)
                if inner == -1:  # a frame may start inside, but it has not all arrived yet
                    break
                if inner is None:
                    self.bad_crc += 1
                    pos += size
                else:
                    self.truncated += 1
                    pos = inner
                continue
            self._in_sync = True
            raw = bytes(buf[pos : pos + size])
            pos += size
            _, _, _, idcode, soc, fracsec = _COMMON.unpack_from(raw)
            frames.append(RawFrame(FrameType(raw[1] >> 4), idcode, soc, fracsec, raw[HEADER_SIZE:-2]))
            if frames[-1].type in CONFIG_TYPES:
                break
        del buf[:pos]
        return frames

    def _size_at(self, pos: int) -> int | None:
        """FRAMESIZE of the frame header at `pos` (4 bytes there at least), or None if it is impossible."""
        buf = self._buf
        kind, size = buf[pos + 1] >> 4, int.from_bytes(buf[pos + 2 : pos + 4], "big")
        wrong = (
            buf[pos + 1] & 0x80
            or kind > FrameType.CFG3
            or not MIN_FRAME <= size <= self.max_size
            or (kind == FrameType.DATA and self.data_size is not None and size != self.data_size)
        )
        return None if wrong else size

    def _crc_ok(self, pos: int, size: int) -> bool:
        raw = memoryview(self._buf)[pos : pos + size]
        try:
            return crc_ccitt(raw[:-2]) == int.from_bytes(raw[-2:], "big")
        finally:
            raw.release()  # a live view would stop the buffer from being resized

    def _frame_inside(self, pos: int, size: int) -> int | None:
        """Where a valid frame starts within the failed frame at `pos`: None if nowhere, -1 if a
        plausible one starts there but has not fully arrived yet. Once the data frames' size is known,
        only a data frame counts: waiting on a stray SYNC byte that looks like a long configuration frame
        would hold the stream up for as many bytes as it claims."""
        buf = self._buf
        j = pos
        while (j := buf.find(SYNC, j + 1, pos + size)) >= 0:
            if len(buf) - j < 4:
                return -1
            inner = self._size_at(j)
            if inner is None or (self.data_size is not None and buf[j + 1] >> 4 != FrameType.DATA):
                continue
            if len(buf) - j < inner:
                return -1
            if self._crc_ok(j, inner):
                return j
        return None
