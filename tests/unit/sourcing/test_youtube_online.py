"""Online transcripts without a network: youtube-transcript-api over a local fake HTTP transport that
serves the real recorded YouTube responses, and yt-dlp through an injected factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from youtube_transcript_api import YouTubeTranscriptApi

from ai.core.config import SourceConfig
from ai.core.records import Passage
from ai.core.stage import Rejection
from ai.sourcing.youtube import YouTubeOptions, extract_videos, read_source
from ai.sourcing.youtube.formats import TranscriptError
from ai.sourcing.youtube.online import (
    RateLimiter,
    TranscriptCache,
    TranscriptFetcher,
    playlist_id_from,
    video_id_from,
)

VIDEO = "GJLlxj_dtq8"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (VIDEO, VIDEO),
        (f"https://www.youtube.com/watch?v={VIDEO}&t=42s", VIDEO),
        (f"youtube.com/watch?v={VIDEO}", VIDEO),
        (f"https://youtu.be/{VIDEO}?si=x", VIDEO),
        (f"https://m.youtube.com/shorts/{VIDEO}", VIDEO),
        (f"https://www.youtube.com/embed/{VIDEO}", VIDEO),
        ("https://example.com/watch?v=GJLlxj_dtq8", ""),
        ("https://youtu.be/short", ""),
        ("not a video", ""),
    ],
)
def test_video_ids_from_ids_and_urls(reference: str, expected: str) -> None:
    assert video_id_from(reference) == expected


def test_playlist_ids_from_urls() -> None:
    assert playlist_id_from("https://www.youtube.com/playlist?list=PL123abc") == "PL123abc"
    assert playlist_id_from("PL123abc") == ""


def test_rate_limiter_spaces_requests() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    limiter.wait()
    limiter.wait()
    now[0] += 0.2
    limiter.wait()
    now[0] += 5
    limiter.wait()
    assert slept == [0.5, 0.3]


# --- a fake HTTP transport serving YouTube's recorded responses ---------------------------------------


class RecordedYouTube(BaseAdapter):
    """Answers the three requests youtube-transcript-api makes, from the files in shared data."""

    def __init__(self, assets: Path, playability: str = "OK") -> None:
        super().__init__()
        self.assets = assets
        self.playability = playability
        self.requests: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        self.requests.append(url)
        if "/watch?v=" in url:
            body = b'<html><script>var cfg = {"INNERTUBE_API_KEY": "fake-key-123"};</script></html>'
        elif "/youtubei/v1/player" in url:
            data = json.loads((self.assets / "youtube.innertube.json").read_text(encoding="utf-8"))
            if self.playability != "OK":
                data["playabilityStatus"] = {"status": "ERROR", "reason": "This video is unavailable"}
            body = json.dumps(data).encode()
        elif "/api/timedtext" in url:
            body = (self.assets / "transcript.xml").read_bytes()
        else:
            body, status = b"not found", 404
            return _response(request, body, status)
        return _response(request, body, 200)

    def close(self) -> None:
        self.requests.append("closed")


def _response(request: requests.PreparedRequest, body: bytes, status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


@pytest.fixture
def assets(shared_data: Path) -> Path:
    return shared_data / "subtitles" / "youtube-transcript-api"


def _api(transport: RecordedYouTube) -> YouTubeTranscriptApi:
    session = requests.Session()
    session.mount("https://", transport)
    return YouTubeTranscriptApi(http_client=session)


def _fetcher(api: Any, cache_dir: Path | None = None, **kwargs: Any) -> TranscriptFetcher:
    cache = TranscriptCache(cache_dir) if cache_dir else None
    return TranscriptFetcher(["en"], cache=cache, limiter=RateLimiter.per_second(0), api=api, **kwargs)


def test_transcript_api_over_recorded_responses_and_cache(assets: Path, tmp_path: Path) -> None:
    transport = RecordedYouTube(assets)
    fetcher = _fetcher(_api(transport), tmp_path / "cache", use_ytdlp=False)
    parsed = fetcher.fetch(VIDEO)
    assert parsed.format == "snippets" and parsed.language == "en"
    assert [c.text for c in parsed.cues][:2] == [
        "Hey, this is just a test",
        "this is not the original transcript",
    ]
    assert parsed.cues[1].start == 1.54 and parsed.cues[1].end == 5.7
    calls = len(transport.requests)
    again = _fetcher(_api(transport), tmp_path / "cache", use_ytdlp=False).fetch(VIDEO)
    assert len(transport.requests) == calls, "the second fetch is served from the cache"
    assert [c.text for c in again.cues] == [c.text for c in parsed.cues]


def test_extract_videos_gives_passages_with_video_locators(assets: Path) -> None:
    fetcher = _fetcher(_api(RecordedYouTube(assets)), use_ytdlp=False)
    options = YouTubeOptions(videos=[f"https://youtu.be/{VIDEO}", VIDEO, "nonsense"])
    items = list(extract_videos(fetcher, options, "yt", "CC-BY"))
    passages = [i for i in items if isinstance(i, Passage)]
    assert [r.reason for r in items if isinstance(r, Rejection)] == ["invalid_video_id"]
    assert len(passages) == 1  # the duplicate reference is fetched once
    locator = passages[0].source.locator
    assert locator == {"video_id": VIDEO, "chunk": 0, "start": 0.0, "end": 8.939}
    assert passages[0].source.uri == f"https://www.youtube.com/watch?v={VIDEO}"


def test_unavailable_videos_are_quarantined_with_the_reason(assets: Path) -> None:
    fetcher = _fetcher(_api(RecordedYouTube(assets, playability="ERROR")), use_ytdlp=False)
    [rejection] = list(extract_videos(fetcher, YouTubeOptions(videos=[VIDEO])))
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "video_unavailable" and rejection.locator == f"youtube:{VIDEO}"


# --- yt-dlp fallback and playlists --------------------------------------------------------------------

VTT_BODY = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFrom yt-dlp.\n"


class FakeYDL:
    """The part of yt_dlp.YoutubeDL the fetcher uses."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def __enter__(self) -> FakeYDL:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def extract_info(self, url: str, download: bool = False) -> dict[str, Any]:
        if "playlist" in url:
            return {"entries": [{"id": VIDEO}, {"id": "bad"}, {"id": "abcdefghijk"}]}
        return {
            "automatic_captions": {
                "en": [{"ext": "srv1", "url": "u1"}, {"ext": "vtt", "url": "https://t/vtt"}]
            }
        }

    def urlopen(self, url: str) -> Any:
        assert url == "https://t/vtt"
        return _Body(VTT_BODY.encode())


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


class FailingApi:
    def fetch(self, video_id: str, languages: list[str]) -> Any:
        raise RuntimeError("network down")


def test_ytdlp_is_the_fallback_when_the_api_fails(tmp_path: Path) -> None:
    fetcher = _fetcher(FailingApi(), tmp_path, ytdlp_factory=FakeYDL)
    parsed = fetcher.fetch(VIDEO)
    assert [c.text for c in parsed.cues] == ["From yt-dlp."]
    cached = json.loads(next(tmp_path.glob(f"{VIDEO}-*.json")).read_text())
    assert cached["via"] == "yt-dlp" and cached["generated"] is True


def test_both_failing_sources_are_named_in_the_error() -> None:
    class NoSubs(FakeYDL):
        def extract_info(self, url: str, download: bool = False) -> dict[str, Any]:
            return {"subtitles": {}}

    with pytest.raises(TranscriptError) as error:
        _fetcher(FailingApi(), ytdlp_factory=NoSubs).fetch(VIDEO)
    assert error.value.reason == "network_error" and "yt-dlp fallback" in error.value.message


def test_playlists_expand_through_ytdlp() -> None:
    fetcher = _fetcher(FailingApi(), ytdlp_factory=FakeYDL)
    assert fetcher.playlist_video_ids("https://www.youtube.com/playlist?list=PLx") == [VIDEO, "abcdefghijk"]
    items = list(
        extract_videos(fetcher, YouTubeOptions(playlists=["https://www.youtube.com/playlist?list=PLx"]))
    )
    assert sum(isinstance(i, Passage) for i in items) == 2


def test_cache_ignores_corrupt_entries(tmp_path: Path) -> None:
    cache = TranscriptCache(tmp_path)
    cache.put(VIDEO, ["en"], {"snippets": []})
    assert cache.get(VIDEO, ["en"]) == {"snippets": []}
    assert cache.get(VIDEO, ["de"]) is None
    next(tmp_path.glob("*.json")).write_text("{broken")
    assert cache.get(VIDEO, ["en"]) is None


def test_source_entry_fetches_configured_videos_into_the_cache(
    assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import youtube_transcript_api

    transport = RecordedYouTube(assets)
    monkeypatch.setattr(youtube_transcript_api, "YouTubeTranscriptApi", lambda: _api(transport))
    source = SourceConfig(
        name="yt",
        kind="youtube",
        options={"videos": [VIDEO], "cache_dir": "cache", "requests_per_second": 0, "use_ytdlp": False},
    )
    items = list(read_source(source, tmp_path))
    assert [type(i) for i in items] == [Passage]
    assert items[0].source.locator["video_id"] == VIDEO
    assert list((tmp_path / "cache").glob(f"{VIDEO}-*.json"))
