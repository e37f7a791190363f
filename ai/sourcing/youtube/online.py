"""Transcripts from YouTube: youtube-transcript-api first, yt-dlp subtitles as the fallback.

Requests are rate limited and every fetched transcript is cached on disk (keyed by video id and
language preference), so a rerun never asks YouTube again. The API client and the yt-dlp factory are
parameters, so tests (and air-gapped runs) can hand in their own transports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ai.core.atomic import atomic_write_text
from ai.sourcing.rate_limit import RateLimiter
from ai.sourcing.youtube.formats import (
    ParsedTranscript,
    TranscriptError,
    parse_json,
    parse_transcript,
    parse_vtt,
)

_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_PATH_ID = re.compile(r"^/(?:shorts|embed|live|v)/([A-Za-z0-9_-]{11})")
_YOUTUBE_HOSTS = (
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtube-nocookie.com",
)

# youtube-transcript-api exception class name -> quarantine reason code
_API_REASONS = {
    "TranscriptsDisabled": "transcripts_disabled",
    "NoTranscriptFound": "no_transcript",
    "VideoUnavailable": "video_unavailable",
    "VideoUnplayable": "video_unavailable",
    "AgeRestricted": "video_unavailable",
    "InvalidVideoId": "invalid_video_id",
    "RequestBlocked": "request_blocked",
    "IpBlocked": "request_blocked",
    "PoTokenRequired": "request_blocked",
    "YouTubeRequestFailed": "network_error",
}


def video_id_from(reference: str) -> str:
    """The 11-character video id in a bare id or any common YouTube URL; '' when there is none."""
    reference = reference.strip()
    if _VIDEO_ID.match(reference):
        return reference
    url = urlparse(reference if "://" in reference else f"https://{reference}")
    host = (url.hostname or "").lower()
    if host in ("youtu.be", "www.youtu.be"):
        candidate = url.path.strip("/").split("/")[0]
        return candidate if _VIDEO_ID.match(candidate) else ""
    if host in _YOUTUBE_HOSTS or host.endswith(".youtube.com"):
        candidate = parse_qs(url.query).get("v", [""])[0]
        if _VIDEO_ID.match(candidate):
            return candidate
        match = _PATH_ID.match(url.path)
        return match.group(1) if match else ""
    return ""


def playlist_id_from(reference: str) -> str:
    url = urlparse(reference if "://" in reference else f"https://{reference}")
    return parse_qs(url.query).get("list", [""])[0]


class TranscriptCache:
    """One JSON file per (video id, language preference) under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, video_id: str, languages: list[str]) -> dict[str, Any] | None:
        path = self._path(video_id, languages)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, video_id: str, languages: list[str], entry: dict[str, Any]) -> None:
        atomic_write_text(self._path(video_id, languages), json.dumps(entry, ensure_ascii=False))

    def _path(self, video_id: str, languages: list[str]) -> Path:
        key = hashlib.sha256(f"{video_id}|{','.join(languages)}".encode()).hexdigest()[:16]
        return self.directory / f"{video_id}-{key}.json"


def default_cache_dir() -> Path:
    home = os.environ.get("DATASET_PIPELINE_HOME") or str(Path.home() / ".dataset-pipeline")
    return Path(home) / "cache" / "youtube"


class TranscriptFetcher:
    """Fetch a video's transcript as parsed cues, through the cache, the API and then yt-dlp."""

    def __init__(
        self,
        languages: list[str],
        cache: TranscriptCache | None = None,
        limiter: RateLimiter | None = None,
        api: Any = None,
        ytdlp_factory: Callable[[dict[str, Any]], Any] | None = None,
        use_ytdlp: bool = True,
    ) -> None:
        self.languages = languages or ["en"]
        self.cache = cache
        self.limiter = limiter or RateLimiter(0.5)
        self._api = api
        self._ytdlp_factory = ytdlp_factory
        self.use_ytdlp = use_ytdlp

    def fetch(self, video_id: str) -> ParsedTranscript:
        cached = self.cache.get(video_id, self.languages) if self.cache else None
        if cached is None:
            cached = self._fetch_remote(video_id)
            if self.cache:
                self.cache.put(video_id, self.languages, cached)
        return _entry_to_transcript(cached)

    def playlist_video_ids(self, playlist: str) -> list[str]:
        """Video ids of a playlist (yt-dlp's flat extraction; the transcript API has no playlists)."""
        factory = self._ytdlp()
        if factory is None:
            raise TranscriptError("ytdlp_missing", "playlists need yt-dlp (install the 'youtube' extra)")
        self.limiter.wait()
        with factory(
            {"extract_flat": True, "skip_download": True, "quiet": True, "no_warnings": True}
        ) as ydl:
            try:
                info = ydl.extract_info(playlist, download=False)
            except Exception as exc:  # yt-dlp raises its own DownloadError family
                raise TranscriptError("playlist_unavailable", f"playlist {playlist}: {exc}") from None
        entries = (info or {}).get("entries") or []
        return [
            str(e["id"]) for e in entries if isinstance(e, dict) and _VIDEO_ID.match(str(e.get("id", "")))
        ]

    def _fetch_remote(self, video_id: str) -> dict[str, Any]:
        try:
            return self._from_api(video_id)
        except TranscriptError as api_error:
            if not self.use_ytdlp or self._ytdlp() is None or api_error.reason == "invalid_video_id":
                raise
            try:
                return self._from_ytdlp(video_id)
            except TranscriptError as fallback_error:
                raise TranscriptError(
                    api_error.reason, f"{api_error.message}; yt-dlp fallback: {fallback_error.message}"
                ) from None

    def _from_api(self, video_id: str) -> dict[str, Any]:
        self.limiter.wait()
        try:
            fetched = self.api.fetch(video_id, languages=self.languages)
        except Exception as exc:  # the library raises one class per failure; map them to reasons
            reason = _API_REASONS.get(type(exc).__name__, "network_error")
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TranscriptError(reason, f"video {video_id}: {first_line}") from None
        snippets = [{"text": s.text, "start": s.start, "duration": s.duration} for s in fetched]
        return {
            "via": "youtube-transcript-api",
            "language": getattr(fetched, "language_code", ""),
            "generated": bool(getattr(fetched, "is_generated", False)),
            "snippets": snippets,
        }

    def _from_ytdlp(self, video_id: str) -> dict[str, Any]:
        factory = self._ytdlp()
        if factory is None:
            raise TranscriptError("ytdlp_missing", "yt-dlp is not installed")
        self.limiter.wait()
        url = f"https://www.youtube.com/watch?v={video_id}"
        with factory({"skip_download": True, "quiet": True, "no_warnings": True}) as ydl:
            try:
                info = ydl.extract_info(url, download=False) or {}
                track, language, generated = _pick_track(info, self.languages)
                if track is None:
                    raise TranscriptError(
                        "no_transcript", f"video {video_id}: no subtitles in {self.languages}"
                    )
                self.limiter.wait()
                body = ydl.urlopen(track["url"]).read().decode("utf-8", errors="replace")
            except TranscriptError:
                raise
            except Exception as exc:  # yt-dlp's DownloadError family and network errors
                raise TranscriptError("network_error", f"video {video_id}: {exc}") from None
        return {
            "via": "yt-dlp",
            "language": language,
            "generated": generated,
            "format": track["ext"],
            "body": body,
        }

    @property
    def api(self) -> Any:
        if self._api is None:
            from youtube_transcript_api import YouTubeTranscriptApi

            self._api = YouTubeTranscriptApi()
        return self._api

    def _ytdlp(self) -> Callable[[dict[str, Any]], Any] | None:
        if self._ytdlp_factory is None:
            try:
                from yt_dlp import YoutubeDL
            except ImportError:
                return None
            self._ytdlp_factory = YoutubeDL
        return self._ytdlp_factory


def _pick_track(info: dict[str, Any], languages: Iterable[str]) -> tuple[dict[str, Any] | None, str, bool]:
    """Best subtitle track: manual before automatic, json3 before vtt, in language preference order."""
    for key, generated in (("subtitles", False), ("automatic_captions", True)):
        tracks = info.get(key) or {}
        for language in languages:
            formats = tracks.get(language) or []
            for ext in ("json3", "vtt", "srv3", "ttml"):
                for track in formats:
                    if track.get("ext") == ext and track.get("url"):
                        return track, language, generated
    return None, "", False


def _entry_to_transcript(entry: dict[str, Any]) -> ParsedTranscript:
    if "snippets" in entry:
        parsed = parse_json(json.dumps(entry["snippets"]))
    elif entry.get("format") == "vtt":
        parsed = parse_vtt(entry.get("body", ""))
    elif entry.get("format") == "json3":
        parsed = parse_json(entry.get("body", ""))
    else:
        parsed = parse_transcript(entry.get("body", ""), "xml")
    parsed.language = entry.get("language", "") or parsed.language
    return parsed
