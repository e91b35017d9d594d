"""Offline speech for previz: eSpeak NG from the ``espeakng-loader`` wheel, via ctypes.

eSpeak NG keeps global state that drifts from one utterance to the next (the
same text spoken twice in a process gives different samples), so every call
loads a fresh copy of the library, speaks, and unloads it again (about 10 ms);
its noise generator, which it seeds from the clock, gets a fixed seed. So the
same text and voice always give the same samples. A process-wide lock
serialises calls, because the library is not thread-safe.

Voices are eSpeak names such as ``en-us``, ``en-gb``, ``en-gb-scotland``, or a
name plus a variant such as ``en-us+f3`` or ``en+m2``; ``None`` means
``en-us``. A language code eSpeak has no voice name for (``en-gb``) is matched
by language.
"""

from __future__ import annotations

import _ctypes
import ctypes
import io
import threading
import wave
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

DEFAULT_VOICE = "en-us"

_SYNCHRONOUS = 2
_UTF8 = 1
_NOT_FOUND = 2
_RAND_SEED = 1
_LOCK = threading.Lock()
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class UnknownVoiceError(ValueError):
    """eSpeak NG has no voice of that name or language."""


class _Voice(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


def synthesize_speech(*, text: str, voice: str | None, sample_rate: int | None = None) -> bytes:
    """``text`` spoken by eSpeak NG as a 16-bit mono WAV.

    ``sample_rate`` resamples the engine's 22050 Hz output (linear
    interpolation). Raises :class:`UnknownVoiceError` for an unknown voice.
    """
    with _engine() as lib:
        native_rate = lib.espeak_ng_GetSampleRate()
        _select_voice(lib, voice or DEFAULT_VOICE)
        chunks: list[bytes] = []

        def collect(samples: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
            if samples and count > 0:
                chunks.append(ctypes.string_at(samples, count * 2))
            return 0

        callback = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        data = text.encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _UTF8, None, None)
        lib.espeak_Synchronize()
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    rate = native_rate
    if sample_rate is not None and sample_rate != native_rate:
        pcm = resample_pcm(pcm, native_rate, sample_rate)
        rate = sample_rate
    return wav_bytes(pcm, rate)


def check_voice(voice: str | None) -> None:
    """Raise :class:`UnknownVoiceError` unless eSpeak NG can speak with ``voice``."""
    with _engine() as lib:
        _select_voice(lib, voice or DEFAULT_VOICE)


def resample_pcm(pcm: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """16-bit samples at ``from_rate`` resampled to ``to_rate`` by linear interpolation."""
    count = round(len(pcm) * to_rate / from_rate)
    positions = np.arange(count, dtype=np.float64) * (from_rate / to_rate)
    values = np.interp(positions, np.arange(len(pcm), dtype=np.float64), pcm.astype(np.float64))
    return np.clip(np.rint(values), -32768, 32767).astype("<i2")


def fit_duration(pcm: np.ndarray, sample_rate: int, duration_s: float) -> np.ndarray:
    """``pcm`` trimmed, or padded with silence, to exactly ``duration_s`` seconds."""
    count = round(duration_s * sample_rate)
    if len(pcm) >= count:
        return pcm[:count]
    return np.concatenate([pcm, np.zeros(count - len(pcm), dtype=pcm.dtype)])


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file holding ``pcm``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def read_pcm(data: bytes) -> tuple[np.ndarray, int]:
    """The samples and sample rate of a 16-bit mono WAV written by :func:`wav_bytes`."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), "<i2"), reader.getframerate()


@contextmanager
def _engine() -> Iterator[ctypes.CDLL]:
    """A freshly loaded, initialised eSpeak NG, unloaded on exit (see the module docstring)."""
    import espeakng_loader

    with _LOCK:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        try:
            lib.espeak_Initialize.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
            lib.espeak_Synth.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            data_path = espeakng_loader.get_data_path().encode()
            if lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path, 0) <= 0:
                raise RuntimeError(f"eSpeak NG failed to initialise with data at {data_path!r}")
            # Initialisation seeds the breath-noise generator (variants such as +f3)
            # from the clock; a fixed seed makes every voice repeatable.
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed(_RAND_SEED)
            yield lib
        finally:
            lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)


def _select_voice(lib: ctypes.CDLL, voice: str) -> None:
    name, plus, variant = voice.partition("+")
    if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _NOT_FOUND:
        return
    by_language = _voices_by_language(lib)
    match = by_language.get(name.lower())
    if (
        match is not None
        and lib.espeak_SetVoiceByName(match + plus.encode() + variant.encode()) == 0
    ):
        return
    examples = ", ".join(sorted(k for k in by_language if k.startswith("en"))[:8])
    raise UnknownVoiceError(
        f"eSpeak NG has no voice {voice!r}; use a language code such as {examples}, "
        "optionally with a variant such as '+f3' or '+m2'"
    )


def _voices_by_language(lib: ctypes.CDLL) -> dict[str, bytes]:
    """Language code -> voice name, the best-ranked voice for each language."""
    found: dict[str, tuple[int, bytes]] = {}
    voices = lib.espeak_ListVoices(None)
    index = 0
    while voices[index]:
        entry = voices[index].contents
        index += 1
        if not entry.languages or entry.name is None:
            continue
        # ``languages`` holds (priority byte, code, NUL) entries, ended by a zero priority.
        pos = entry.languages
        while (priority := ctypes.string_at(pos, 1)[0]) != 0:
            raw = ctypes.string_at(pos + 1)
            code = raw.decode("ascii", "replace").lower()
            if code not in found or priority < found[code][0]:
                found[code] = (priority, entry.name)
            pos += len(raw) + 2
    return {code: name for code, (_, name) in found.items()}
