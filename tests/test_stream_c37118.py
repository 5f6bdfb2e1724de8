"""IEEE C37.118.2 frames (tsgan.stream.c37118): round trips, an independent struct decoder, pyc37, CRC."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tsgan.stream.c37118 import (
    SYNC,
    Command,
    DataCodec,
    FrameReader,
    FrameType,
    PmuConfig,
    StreamConfig,
    crc_ccitt,
    decode_command,
    decode_config,
    decode_header,
    encode_command,
    encode_config,
    encode_header,
    time_of,
)

PHASORS = ["VA", "VB", "VC", "IA", "IB", "IC"]
ROW = np.array(
    [7201.5, 10.25, 7188.0, -109.5, 7210.0, 130.0, 301.2, -20.0, 310.0, -139.0, 305.5, 179.5, 60.0123, -0.031]
)


def pmu(fmt: tuple[bool, bool, bool, bool] = (True, True, True, True), **kw) -> PmuConfig:
    """A three-phase PMU; PHUNIT 0.3 V and 0.02 A per bit, so that integer rectangular values fit too."""
    polar, phasor_float, analog_float, freq_float = fmt
    return PmuConfig(
        station=kw.pop("station", "FEEDER 7"),
        idcode=kw.pop("idcode", 7),
        phasors=PHASORS,
        phasor_units=[("V", 30_000)] * 3 + [("I", 2_000)] * 3,
        polar=polar,
        phasor_float=phasor_float,
        analog_float=analog_float,
        freq_float=freq_float,
        **kw,
    )


def one_frame(data: bytes, reader: FrameReader | None = None):
    frames = (reader or FrameReader()).feed(data)
    assert len(frames) == 1
    return frames[0]


def test_crc_is_crc_ccitt_false():
    assert crc_ccitt(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value


FORMATS = [
    (p, f, a, q) for p in (True, False) for f in (True, False) for a in (True, False) for q in (True, False)
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_config_round_trip_every_format(fmt):
    cfg = StreamConfig(7, [pmu(fmt, analogs=["temp"], analog_units=[1 << 24 | 10], fnom=50.0, cfgcnt=3)], 120)
    frame = one_frame(encode_config(cfg, soc=1_700_000_000, fracsec=250_000))
    assert frame.type == FrameType.CFG2 and frame.idcode == 7
    assert decode_config(frame) == cfg


def test_config_of_a_pdc_stream_with_two_pmus_and_digitals():
    digital = [f"BIT{i}" for i in range(16)]
    cfg = StreamConfig(
        100,
        [
            pmu(idcode=1, station="A"),
            pmu((False, False, False, False), idcode=2, digitals=digital, digital_units=[0xFFFF]),
        ],
        rate=0.5,
    )
    back = decode_config(one_frame(encode_config(cfg, frame_type=FrameType.CFG1)))
    assert back == cfg and back.rate == 0.5 and back.pmus[1].channels[-1] == "rocof"


def test_data_of_a_pdc_stream_with_two_pmus():
    cfg = StreamConfig(
        100, [pmu(idcode=1, station="A"), pmu((True, False, True, False), idcode=2, station="B")], 60
    )
    codec = DataCodec(cfg)
    frame = one_frame(codec.encode(5, 0, [ROW, ROW], stats=[0, 0xC000]), FrameReader(codec.frame_size))
    stats, (a, b) = codec.decode([frame.payload])
    assert stats.tolist() == [[0, 0xC000]]
    assert np.allclose(a[0], ROW, atol=1e-4) and np.isnan(b).all()  # B's STAT says: do not use


@pytest.mark.parametrize("fmt", FORMATS)
def test_data_round_trip_every_format(fmt):
    cfg = StreamConfig(7, [pmu(fmt, analogs=["temp"], analog_units=[0])], 120)
    codec = DataCodec(cfg)
    row = np.append(ROW, 21.0)
    frame = one_frame(codec.encode(1_700_000_000, 8_333, [row]), FrameReader(codec.frame_size))
    assert frame.time_ns == 1_700_000_000_008_333_000
    stats, (values,) = codec.decode([frame.payload])
    assert stats.tolist() == [[0]] and values.shape == (1, 15)
    got = values[0]
    mags, angles = slice(0, 12, 2), slice(1, 12, 2)
    # 32-bit floats, or integers of 0.3 V / 0.02 A, 1e-4 rad, 1 mHz, 0.01 Hz/s.
    assert np.allclose(got[mags], row[mags], rtol=1e-6, atol=1e-9 if fmt[1] else 0.3)
    dangle = (got[angles] - row[angles] + 180) % 360 - 180
    assert np.abs(dangle).max() < (1e-4 if fmt[1] else 0.01 if fmt[0] else 0.01)
    assert got[12] == pytest.approx(row[12], abs=1e-5 if fmt[3] else 1e-3)
    assert got[13] == pytest.approx(row[13], abs=1e-6 if fmt[3] else 0.01)
    assert got[14] == pytest.approx(21.0)


def test_a_float_data_frame_read_with_struct_alone():
    """The standard's layout, read byte by byte without the codec (an independent decoder)."""
    cfg = StreamConfig(7, [pmu()], 120)
    frame = DataCodec(cfg).encode(1_700_000_123, 991_667, [ROW], stats=[0x2000])
    sync, kind, size, idcode, soc, fracsec = struct.unpack(">BBHHII", frame[:14])
    assert (sync, kind >> 4, kind & 0xF, size, idcode) == (SYNC, 0, 2, len(frame), 7)
    assert (soc, fracsec) == (1_700_000_123, 991_667)
    stat, *rest = struct.unpack(">H12f2f", frame[14:-2])
    assert stat == 0x2000
    mags, radians, (freq, rocof) = rest[0:12:2], rest[1:12:2], rest[12:]
    assert np.allclose(mags, ROW[0:12:2]) and np.allclose(np.rad2deg(radians), ROW[1:12:2], atol=1e-4)
    assert freq == pytest.approx(60.0123, abs=1e-5)  # float FREQ is the frequency itself, in Hz
    assert rocof == pytest.approx(-0.031, abs=1e-7)
    assert struct.unpack(">H", frame[-2:])[0] == crc_ccitt(frame[:-2])


def test_command_and_header_frames():
    cmd = one_frame(encode_command(7, Command.SEND_CFG2, 5, 6))
    assert (cmd.type, cmd.idcode, cmd.soc, cmd.fracsec, decode_command(cmd)) == (
        FrameType.COMMAND,
        7,
        5,
        6,
        5,
    )
    assert decode_header(one_frame(encode_header(7, "feeder 7 PMU"))) == "feeder 7 PMU"
    assert time_of(10, 0x0F_000000 | 500_000) == 10_500_000_000  # the time-quality byte is ignored


def test_reader_skips_bad_crc_and_resynchronises():
    cfg = StreamConfig(7, [pmu()], 120)
    codec = DataCodec(cfg)
    frames = [codec.encode(1_000, k * 8_333, [ROW]) for k in range(4)]
    damaged = bytearray(frames[1])
    damaged[20] ^= 0xFF
    wrong_size = bytearray(frames[2])
    wrong_size[3] -= 4  # FRAMESIZE no longer that of this configuration's data frames
    stream = b"\x00\x13garbage" + frames[0] + bytes(damaged) + bytes(wrong_size) + frames[3]
    reader = FrameReader(codec.frame_size)
    got = [f for i in range(0, len(stream), 7) for f in reader.feed(stream[i : i + 7])]  # in small chunks
    assert [f.fracsec for f in got] == [0, 3 * 8_333]
    assert reader.bad_crc == 1 and reader.bad_size >= 1 and reader.skipped_bytes > 0


def test_pyc37_reads_our_frames():
    frame_mod = pytest.importorskip("pyc37.frame", reason="pyc37 (an independent codec) is not installed")
    # pyc37 refuses float FREQ near 60 Hz (reference/c37118.md): integer FREQ/DFREQ, float phasors.
    cfg = StreamConfig(7, [pmu((True, True, True, False))], 120)
    theirs = frame_mod.ConfigFrame2.convert2frame(encode_config(cfg, 1_700_000_000, 0))
    assert theirs.get_station_name().strip() == "FEEDER 7" and theirs.get_stream_id_code() == 7
    assert [n.strip() for n in theirs.get_channel_names()] == PHASORS
    assert theirs.get_ph_units() == [(30_000, "v")] * 3 + [(2_000, "i")] * 3
    assert theirs.get_data_rate() == 120 and theirs.get_fnom() == 60
    data = frame_mod.DataFrame.convert2frame(DataCodec(cfg).encode(1_700_000_000, 8_333, [ROW]), theirs)
    mags, radians = zip(*data.get_phasors(), strict=True)
    assert np.allclose(mags, ROW[0:12:2]) and np.allclose(np.rad2deg(radians), ROW[1:12:2], atol=1e-4)
    assert data.get_freq() == 12 and data.get_dfreq() == -3  # mHz from nominal; Hz/s x 100


def test_we_read_pyc37_frames():
    frame_mod = pytest.importorskip("pyc37.frame", reason="pyc37 (an independent codec) is not installed")
    theirs = frame_mod.ConfigFrame2(
        9, 1_000_000, 1, "REMOTE", 9, (True, False, True, False), 2, 1, 0,
        ["VA", "IA", "TEMP"], [(20_000, "v"), (1_000, "i")], [(1, "pow")], [], 60, 4, 60,
    )  # fmt: skip
    cfg = decode_config(one_frame(theirs.convert2bytes()))
    assert (cfg.idcode, cfg.rate, cfg.pmus[0].station, cfg.pmus[0].cfgcnt) == (9, 60, "REMOTE", 4)
    assert cfg.pmus[0].channels == ["VA_mag", "VA_ang", "IA_mag", "IA_ang", "freq", "rocof", "TEMP"]
    # Integer polar phasors: magnitude in PHUNIT steps of 1e-5 V (A), angle in 1e-4 rad.
    data = frame_mod.DataFrame(9, ("ok", True, "timestamp", False, False, False, 0, "<10", 0),
                               [(36_000, 5_236), (15_000, -1_000)], 25, 150, [20.5], [], theirs,
                               1_700_000_000, 16_666)  # fmt: skip
    frame = one_frame(data.convert2bytes())
    _, (values,) = DataCodec(cfg).decode([frame.payload])
    assert frame.time_ns == 1_700_000_000_016_666_000
    expected = [7200.0, np.rad2deg(0.5236), 150.0, np.rad2deg(-0.1), 60.025, 1.5, 20.5]
    assert np.allclose(values[0], expected, rtol=1e-6)
