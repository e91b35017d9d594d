"""Small files cannot cost large amounts of time or memory (issue 11, item 6).

A few hundred bytes of YAML anchors expand to billions of values, a few
kilobytes of brackets nest past Python's recursion limit, and a shot list can
be pointed at a file of any size. Each is refused with one problem line that
names the limit, quickly and in bounded memory.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recoil.errors import ShotListError
from recoil.shotlist import load_shotlist, loader, validate_shotlist

HEADER = "project: {title: T}\nscenes: [{id: s, beats: [{id: b, action: x}]}]\n"
TOO_MANY_ALIASED = (
    "anchors and aliases expand the document past 200,000 values, the most a shot list may have"
)
TOO_DEEP = (
    "nested too deeply: more than 64 levels of lists and mappings, the most a shot list may have"
)


def laughs(key: str, levels: int = 9) -> str:
    """The billion-laughs block under ``key``: 9 levels of 9 aliases, ~400 bytes."""
    lines = [f"{key}:", '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"  l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_laughs() -> str:
    """The same with merge keys: each level merges nine copies of the one below."""
    lines = ["merged:", "  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    lines += [f"  m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def bounded(
    load: Callable[[], tuple[str, ...]], *, seconds: float = 10.0, mib: float = 20.0
) -> tuple[str, ...]:
    """The problems ``load`` returns, failing unless it takes at most ``seconds`` and
    allocates at most ``mib`` (measured in a second run, as tracing slows it down).

    Each load takes well under a second; what the limits guard against (expanding
    nine levels of aliases, quadratic checks of 20,000 items) takes minutes, so the
    time allowed is generous enough for a slow or busy machine.
    """
    start = time.perf_counter()
    problems = load()
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    tracemalloc.start()
    try:
        assert load() == problems
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < mib * 2**20, f"allocated {peak / 2**20:.0f} MiB"
    return problems


def load_problems(path: Path) -> tuple[str, ...]:
    """The problems of the shot list at ``path``, each on its own line of the message."""
    with pytest.raises(ShotListError) as info:
        load_shotlist(path)
    assert str(info.value).count("\n") == len(info.value.problems) - 1
    return info.value.problems


def write(tmp_path: Path, text: str, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"shots{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("block", "where"),
    [
        (laughs("lol"), "line 7, column 16"),
        (laughs("characters"), "line 7, column 16"),
        (merge_laughs(), "line 7, column 17"),
    ],
    ids=["unknown-key", "known-field", "merge-keys"],
)
def test_billion_laughs_is_refused_quickly(tmp_path: Path, block: str, where: str) -> None:
    # The sixth level's second alias (l5 or m5) takes the count past the limit.
    path = write(tmp_path, block + HEADER)
    assert len(block) < 600
    problems = bounded(lambda: load_problems(path))
    assert problems == (f"{where}: {TOO_MANY_ALIASED}",)


def test_aliases_below_the_limit_give_short_problems(tmp_path: Path) -> None:
    """Formatting is bounded too: a value that expands to thousands shows an excerpt."""
    text = laughs("lol", levels=4) + (
        "project: {title: T}\n"
        "scenes: [{id: s, beats: [{id: b, action: *l3, characters: [*l3], dialogue: *l3}]}]\n"
    )
    path = write(tmp_path, text)
    problems = bounded(lambda: load_problems(path))
    assert problems[0] == (
        "scenes[0].beats[0].action: "
        "got [[[[...], [...], [...], [...], [...], [...], ...], [[...]..., expected a string"
    )
    assert problems[-1] == "lol: unknown field; allowed: version, project, characters, scenes"
    assert len(problems) == 1 + 1 + 9 + 1  # action, characters[0], dialogue[0..8], lol
    assert all(len(problem) < 120 for problem in problems)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    problems = load_problems(write(tmp_path, "loop: &a [1, *a]\n" + HEADER))
    assert problems == (
        "line 1, column 14: alias *a is inside the value it names (a recursive alias)",
    )


def test_merge_keys_are_supported(tmp_path: Path) -> None:
    text = (
        "project: {title: T}\n"
        "scenes:\n"
        "  - id: s\n"
        "    beats:\n"
        "      - {id: a, action: x, shot: &close {size: close_up, lens: 85}}\n"
        "      - {id: b, action: y, shot: {<<: *close, lens: 50}}\n"
    )
    first, second = load_shotlist(write(tmp_path, text)).scenes[0].beats
    assert (first.shot.size, first.shot.lens) == ("close_up", 85)
    assert (second.shot.size, second.shot.lens) == ("close_up", 50)


def test_duplicate_keys_are_still_refused_next_to_a_merge(tmp_path: Path) -> None:
    text = "base: &b {x: 1}\nother: {<<: *b, y: 1, y: 2}\n" + HEADER
    assert load_problems(write(tmp_path, text)) == (
        "line 2, column 23: YAML syntax error: duplicate key 'y'",
    )


@pytest.mark.parametrize(
    ("suffix", "opener"),
    [(".yaml", "["), (".yaml", "{a: "), (".yaml", "a:\n"), (".json", "["), (".json", '{"a": ')],
    ids=["yaml-lists", "yaml-mappings", "yaml-block", "json-lists", "json-objects"],
)
def test_deep_nesting_is_refused_with_the_limit(tmp_path: Path, suffix: str, opener: str) -> None:
    if opener == "a:\n":  # block style nests by indenting: a staircase of 100 keys
        text = "".join(" " * level + opener for level in range(100))
        where = "line 65, column 65"  # the 65th mapping
    else:
        text = opener * 100_000
        where = f"line 1, column {64 * len(opener) + 1}"
    path = write(tmp_path, text, suffix)
    problems = bounded(lambda: load_problems(path))
    assert problems == (f"{where}: {TOO_DEEP}",)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_nesting_up_to_the_limit_is_read(tmp_path: Path, suffix: str) -> None:
    inner = json.dumps({"project": {"title": "T"}, "x": [[[[[]]]]]})  # 6 levels deep
    at_limit = "[" * 58 + inner + "]" * 58
    path = write(tmp_path, at_limit, suffix)
    assert load_problems(path) == (
        "top level: expected a mapping with 'project' and 'scenes', got a list",
    )
    path.write_text(f"[{at_limit}]", encoding="utf-8")
    column = 1 + 59 + len('{"project": {"title": "T"}, "x": [[[[')
    assert load_problems(path) == (f"line 1, column {column}: {TOO_DEEP}",)


def test_too_many_values_in_json(tmp_path: Path) -> None:
    prefix = '{"project": {"title": "T"}, "scenes": [], "x": ['
    path = write(tmp_path, prefix + ", ".join(["0"] * loader.MAX_VALUES) + "]}", ".json")
    problems = bounded(lambda: load_problems(path), mib=30)
    # Nine values come before the list's items: 4 strings as keys, 2 more, 3 containers.
    column = 1 + len(prefix) + len("0, ") * (loader.MAX_VALUES - 9)
    assert problems == (
        f"line 1, column {column}: "
        "the document has more than 200,000 values, the most a shot list may have",
    )


def test_too_many_values_in_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_VALUES", 50)  # the pure-Python parser is slow at 200,000
    path = write(tmp_path, HEADER + f"x: [{', '.join(['0'] * 40)}]\n")
    # HEADER holds 17 values, the list 1 more and its key 1: the 32nd item is the 51st.
    column = 1 + len("x: [") + len("0, ") * 31
    assert load_problems(path) == (
        f"line 3, column {column}: "
        "the document has more than 50 values, the most a shot list may have",
    )


def test_a_large_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "shots.yaml"
    path.write_bytes(b"#" * (loader.MAX_FILE_BYTES + 1))
    problems = bounded(lambda: load_problems(path), mib=loader.MAX_FILE_BYTES / 2**20 + 10)
    assert problems == (
        "file is too large (4,194,305 bytes): a shot list may be at most 4,194,304 bytes (4 MiB)",
    )


def test_a_file_at_the_size_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = json.dumps({"project": {"title": "T"}, "scenes": "none"})
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", len(text))
    path = write(tmp_path, text, ".json")
    assert load_problems(path) == ("scenes: got 'none', expected a list",)
    path.write_text(text + " ", encoding="utf-8")
    assert load_problems(path)[0].startswith(f"file is too large ({len(text) + 1} bytes): ")


def test_an_endless_device_is_refused(tmp_path: Path) -> None:
    zero = Path("/dev/zero")
    if not zero.exists():
        pytest.skip("needs /dev/zero")
    path = tmp_path / "shots.yaml"
    path.symlink_to(zero)
    assert load_problems(path) == (
        "file is too large: a shot list may be at most 4,194,304 bytes (4 MiB)",
    )


@pytest.mark.parametrize(
    ("suffix", "text", "where"),
    [
        (".yaml", "project: {title: T, seed: " + "9" * 10_000 + "}\n", "line 1, column 27"),
        (
            ".json",
            '{"project": {"title": "T", "seed": -' + "9" * 10_000 + "}}",
            "line 1, column 36",
        ),
    ],
)
def test_an_integer_too_long_to_convert(tmp_path: Path, suffix: str, text: str, where: str) -> None:
    problems = load_problems(write(tmp_path, text, suffix))
    assert problems == (f"{where}: integer too long: 10,000 digits, more than the 4,300 allowed",)


def test_many_problems_are_capped() -> None:
    beats = [{"id": f"b{i}"} for i in range(150)]
    data = {"project": {"title": "T"}, "scenes": [{"id": "s", "beats": beats}]}
    with pytest.raises(ShotListError) as info:
        validate_shotlist("shots.yaml", data)
    problems = info.value.problems
    assert len(problems) == loader.MAX_PROBLEMS + 1
    assert problems[0] == "scenes[0].beats[0].action: missing required field"
    assert problems[-1] == "... and 50 more problems (fix these first)"


def characters(count: int) -> dict[str, Any]:
    return {f"c{i:02d}": {"name": "C", "description": "d"} for i in range(count)}


def validate_problems(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ShotListError) as info:
        validate_shotlist("shots.yaml", data)
    return info.value.problems


def test_cross_reference_checks_are_linear() -> None:
    beat = {"id": "b", "action": "x", "characters": ["c00"] * 20_000}
    data = {
        "project": {"title": "T"},
        "characters": characters(1),
        "scenes": [{"id": "s", "beats": [beat]}],
    }
    problems = bounded(lambda: validate_problems(data), mib=40)
    assert problems[0] == "scenes[0].beats[0].characters: allows at most 100 items, got 20,000"
    assert problems[1] == "scenes[0].beats[0].characters[1]: 'c00' is listed twice"
    assert problems[-1] == "... and 19,900 more problems (fix these first)"


def test_unknown_character_lists_the_first_defined_ones() -> None:
    beat = {"id": "b", "action": "x", "characters": ["zed"]}
    data = {
        "project": {"title": "T"},
        "characters": characters(30),
        "scenes": [{"id": "s", "beats": [beat]}],
    }
    names = ", ".join(f"c{i:02d}" for i in range(20))
    assert validate_problems(data) == (
        f"scenes[0].beats[0].characters[0]: unknown character 'zed'; "
        f"defined: {names}, ... (30 in all)",
    )


def test_long_keys_are_cut_short_in_problems(tmp_path: Path) -> None:
    long = "k" * 10_000
    data = {long: 1, f"{long} x": 2, **json.loads(json.dumps({"project": {"title": "T"}}))}
    problems = load_problems(write(tmp_path, json.dumps(data), ".json"))
    cut = "['" + "k" * 56 + "...]"  # describe() keeps 60 characters
    assert problems == (
        "scenes: missing required field",
        f"{cut}: unknown field; allowed: version, project, characters, scenes",
        f"{cut}: unknown field; allowed: version, project, characters, scenes",
    )


def test_a_long_duplicate_key_is_cut_short(tmp_path: Path) -> None:
    key = "k" * 1000  # YAML keys may be up to 1024 characters
    (problem,) = load_problems(write(tmp_path, f"{key}: 1\n{key}: 2\n"))
    assert problem == f"line 2, column 1: YAML syntax error: duplicate key '{'k' * 56}..."
