"""SPEC 12: media is served by artifact hash, never by a path from the request, and
answers Range requests (seeking in a video element needs them)."""

from __future__ import annotations

import hashlib
import http.client
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import Served
from tests.unit.server.api import error_of

TAKES = ["a-t01", "a-t02", "b-t01", "b-t02"]


def _media(read: httpx.Client) -> list[dict[str, Any]]:
    """Every medium of every take, as the API lists them."""
    return [
        media
        for take_id in TAKES
        for media in read.get(f"/api/takes/{take_id}").json()["media"].values()
    ]


def _video(read: httpx.Client) -> dict[str, Any]:
    return read.get("/api/takes/a-t01").json()["media"]["video"]


def _raw_get(served: Served, path: str) -> tuple[int, str, bytes]:
    """GET ``path`` exactly as written (httpx would resolve ``..`` before sending it)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    finally:
        connection.close()


def test_every_medium_hashes_to_its_sha256(read: httpx.Client, film: Path) -> None:
    media = _media(read)
    assert {m["mime"] for m in media} == {"image/png", "video/mp4", "audio/wav"}
    for medium in media:
        response = read.get(medium["url"])
        assert response.status_code == 200, medium
        assert response.headers["content-type"] == medium["mime"]
        assert response.headers["accept-ranges"] == "bytes"
        assert hashlib.sha256(response.content).hexdigest() == medium["sha256"]
        name = medium["url"].removeprefix("/media/")
        assert medium["url"] == f"/media/{medium['sha256']}.{name.rsplit('.', 1)[1]}"
        stored = film / "artifacts" / medium["sha256"][:2] / name
        assert stored.read_bytes() == response.content


def test_a_keyframe(read: httpx.Client) -> None:
    keyframe = read.get("/api/takes/b-t02").json()["media"]["keyframe"]
    response = read.get(keyframe["url"])
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert hashlib.sha256(response.content).hexdigest() == keyframe["sha256"]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None)],
)
def test_range_of_a_video(read: httpx.Client, header: str, first: int, last: int | None) -> None:
    url = _video(read)["url"]
    whole = read.get(url).content
    size = len(whole)
    assert size > 200
    start = first if first >= 0 else size + first
    end = size - 1 if last is None else last
    response = read.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == whole[start : end + 1]


def test_range_of_the_cut(read: httpx.Client, film: Path) -> None:
    whole = (film / "exports" / "cut.mp4").read_bytes()
    response = read.get("/cut.mp4", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-9/{len(whole)}"
    assert response.content == whole[:10]


def test_bad_ranges_are_json_errors(read: httpx.Client) -> None:
    url = _video(read)["url"]
    size = len(read.get(url).content)
    past = read.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert "past the end" in error_of(past, 416)
    assert past.headers["content-range"] == f"bytes */{size}"
    error_of(read.get(url, headers={"Range": "bytes=9-2"}), 400)
    error_of(read.get(url, headers={"Range": "items=0-1"}), 400)
    error_of(read.get("/cut.mp4", headers={"Range": "bytes=99999999-"}), 416)


def test_names_that_are_not_hashes_are_unknown(read: httpx.Client, reader: Served) -> None:
    medium = _video(read)
    sha = medium["sha256"]
    for name in [
        "..",
        "%2e%2e",
        "%2E%2E",
        "..%2fshotlist.yaml",
        "..%2F..%2Fetc%2Fpasswd",
        "../shotlist.yaml",
        "../../receipts.jsonl",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "/" + str(Path("shotlist.yaml").absolute()),
        f"{sha.upper()}.mp4",  # uppercase hash
        f"{sha[:-1]}.mp4",  # short hash
        f"{sha}0.mp4",  # long hash
        f"{'0' * 64}.mp4",  # unknown hash
        f"{sha}.png",  # a known hash under another extension
        f"{sha}.mp4.json",  # its provenance sidecar
        f"{sha}.MP4",
        sha,
        f"{sha}.",
        f"artifacts%2f{sha[:2]}%2f{sha}.mp4",
        f"{sha}.mp4%00",
        "",
    ]:
        status, content_type, body = _raw_get(reader, f"/media/{name}")
        assert status == 404, (name, status, body[:200])
        assert content_type == "application/json", name
        response = httpx.Response(404, headers={"content-type": content_type}, content=body)
        error_of(response, 404)
    # The same hash, spelt right, is served.
    assert read.get(medium["url"]).status_code == 200


def test_static_files_stay_in_their_folder(reader: Served) -> None:
    for path in [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/..%2f..%2fserver%2fapp.py",
        "/static//etc/passwd",
    ]:
        status, content_type, _ = _raw_get(reader, path)
        assert status == 404, path
        assert content_type == "application/json", path


def test_no_cut_yet(project: Path, server: Served, client: httpx.Client) -> None:
    (project / "exports" / "cut.mp4").unlink()
    assert "no cut yet" in error_of(client.get("/cut.mp4"), 404)
    assert client.get("/api/cut").json()["url"] is None
